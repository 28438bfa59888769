"""Prompt templates: literal text with ``{slot}`` / ``{slot|formatter}`` / ``{slot|fmt:arg}``.

Parsed once at load time so unknown slots and formatters are flow-check errors,
not surprises in a live call. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callbot.dialog.formatters import FormatError, speak
from callbot.dialog.inputs import SlotValue

REDACTED = "[redacted]"
_PLACEHOLDER = re.compile(
    r"(?P<slot>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)"
    r"(?:\|(?P<fmt>[a-z0-9_]+)(?::(?P<arg>[^{}|]*))?)?"
)


class TemplateError(ValueError):
    """A template does not parse; ``column`` is 1-based in the template text."""

    def __init__(self, column: int, message: str) -> None:
        super().__init__(f"column {column}: {message}")
        self.column = column


@dataclass(frozen=True)
class Placeholder:
    slot: str
    formatter: str | None
    arg: str | None


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(p.slot for p in self.parts if isinstance(p, Placeholder))

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    def render(
        self,
        values: Mapping[str, SlotValue],
        language: str,
        redact: Callable[[str], bool] = lambda _slot: False,
    ) -> str:
        """Speech text; a slot for which ``redact`` is true becomes [redacted].

        A missing slot renders as nothing and a type mismatch as the raw value,
        because a live call must keep talking; `flow check` catches both.
        """
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if redact(part.slot):
                out.append(REDACTED)
                continue
            value = values.get(part.slot)
            if value is None:
                continue
            try:
                out.append(speak(value, part.formatter, part.arg, language))
            except FormatError:
                out.append(str(value))
        return " ".join("".join(out).split())


def parse_template(source: str) -> Template:
    parts: list[str | Placeholder] = []
    buf: list[str] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c in "{}" and source[i : i + 2] in ("{{", "}}"):
            buf.append(c)
            i += 2
            continue
        if c == "}":
            raise TemplateError(i + 1, "unmatched '}' (write '}}' for a literal brace)")
        if c == "{":
            end = source.find("}", i)
            if end < 0:
                raise TemplateError(i + 1, "unclosed '{'")
            inner = source[i + 1 : end].strip()
            m = _PLACEHOLDER.fullmatch(inner)
            if m is None:
                raise TemplateError(i + 1, f"bad placeholder {{{inner}}}")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Placeholder(m.group("slot"), m.group("fmt"), m.group("arg")))
            i = end + 1
            continue
        buf.append(c)
        i += 1
    if buf:
        parts.append("".join(buf))
    return Template(source, tuple(parts))
