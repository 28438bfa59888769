"""Typed errors of the dialogue package."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlowIssue:
    """One problem in a flow file, reported as ``file:line: message``."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.path}:{self.line}: {tag}{self.message}"


class FlowError(Exception):
    """A flow file has errors; ``issues`` lists all of them, not just the first."""

    def __init__(self, issues: list[FlowIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


class HookError(Exception):
    """A hook or webhook failed (raised, timed out, refused or returned garbage)."""

    def __init__(self, hook: str, reason: str) -> None:
        super().__init__(f"hook {hook!r}: {reason}")
        self.hook = hook
        self.reason = reason
