"""Sub-flows: ``subflow: file.yaml`` steps, inlined into the calling flow at load time.

A sub-flow is an ordinary flow file that ends its work with ``return`` steps.
The loader loads and checks it on its own (its errors are reported against its
own file), then copies its steps into the caller as ``<calling step>/<step>``,
with every ``return`` turned into a goto to the calling step's ``next``. Slots
are shared: one slot table per call, so what a sub-flow fills the caller reads.
Hooks, intents and transfers are merged in; settings and global intents are the
caller's. Inlining keeps the manager free of a call stack, and recursion is a
load error, so a running call can never recurse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from callbot.dialog.checks import defined_slots
from callbot.dialog.errors import FlowIssue
from callbot.dialog.model import (
    BranchStep,
    Flow,
    GotoStep,
    HookDef,
    IntentDef,
    ReturnStep,
    Step,
    SubflowStep,
)

T = TypeVar("T")
Report = Callable[[int, str], None]
# load(path, stack) -> (flow, issues); stack = the files being loaded, outermost first.
Loader = Callable[[Path, tuple[Path, ...]], tuple[Flow | None, list[FlowIssue]]]


def inline_subflows(
    flow: Flow, stack: tuple[Path, ...], load: Loader, report: Report
) -> tuple[Flow, list[FlowIssue]]:
    """The flow with its sub-flows' steps inlined, plus the sub-flow files' own errors."""
    calls = [s for s in flow.steps.values() if isinstance(s, SubflowStep)]
    if not calls:
        return flow, []
    here = Path(flow.path)
    steps: dict[str, Step] = dict(flow.steps)
    hooks, intents = dict(flow.hooks), dict(flow.intents)
    transfers, slot_types = dict(flow.transfers), dict(flow.slot_types)
    sensitive, files = set(flow.sensitive_slots), list(flow.source_files)
    needs: list[tuple[SubflowStep, tuple[str, ...]]] = []
    issues: list[FlowIssue] = []
    for call in calls:
        at = call.line_of("subflow")
        target = (here.parent / call.file).resolve()
        if target in stack:
            chain = " -> ".join(p.name for p in (*stack[stack.index(target) :], target))
            report(at, f"sub-flow recursion: {chain}")
            continue
        if not target.is_file():
            report(at, f"sub-flow file {call.file!r} not found")
            continue
        sub, sub_issues = load(target, stack)
        errors = [i for i in sub_issues if i.severity == "error"]
        issues.extend(errors)
        if sub is None or errors:
            report(at, f"sub-flow {call.file!r} has errors (listed under its own file)")
            continue
        if missing := set(flow.languages) - set(sub.languages):
            report(at, f"sub-flow {call.file!r} has no prompts for {', '.join(sorted(missing))}")
        prefix = f"{call.name}/"
        for step in sub.steps.values():
            steps[prefix + step.name] = _retarget(step, prefix, call.next)
        steps[call.name] = replace(call, entry=prefix + sub.start)
        _merge(at, "hook", hooks, {k: replace(h, line=0) for k, h in sub.hooks.items()},
               key=_hook_key, report=report)  # fmt: skip
        _merge(at, "intent", intents, {k: replace(i, line=0) for k, i in sub.intents.items()},
               key=_intent_key, report=report)  # fmt: skip
        _merge(at, "transfer target", transfers, dict(sub.transfers), key=str, report=report)
        for slot, kind in sub.slot_types.items():
            if slot_types.setdefault(slot, kind) is not kind:
                report(at, f"slot {slot!r} is a {slot_types[slot].value} here "
                           f"but a {kind.value} in sub-flow {call.file!r}")  # fmt: skip
        sensitive |= sub.sensitive_slots
        needs.append((call, sub.uses))
        files.extend(f for f in sub.source_files if f not in files)
    merged = replace(flow, steps=steps, hooks=hooks, intents=intents, transfers=transfers,
                     slot_types=slot_types, sensitive_slots=frozenset(sensitive),
                     source_files=tuple(files))  # fmt: skip
    filled = defined_slots(merged)  # the sub-flow reads its `uses`: the caller must fill them
    for call, sub_uses in needs:
        for slot in sorted(set(sub_uses) - filled):
            report(call.line_of("subflow"), f"sub-flow {call.file!r} uses slot {slot!r} "
                                            "that this flow never fills")  # fmt: skip
    return merged, issues


def _retarget(step: Step, prefix: str, back: str | None) -> Step:
    """A copy of a sub-flow step for the caller: names prefixed, ``return`` -> ``back``."""
    name = prefix + step.name

    def p(target: str | None) -> str | None:
        return None if target is None else prefix + target

    if isinstance(step, ReturnStep):
        if back is None:  # the calling step has no `next`: reported there
            return replace(step, name=name)
        return GotoStep(name, step.line, back, key_lines=step.key_lines)
    if isinstance(step, BranchStep):
        cases = tuple(replace(c, target=prefix + c.target) for c in step.cases)
        return replace(step, name=name, cases=cases, otherwise=p(step.otherwise))
    if isinstance(step, GotoStep):
        return replace(step, name=name, target=prefix + step.target)
    changes: dict[str, Any] = {"name": name}
    for attr in ("next", "on_no", "on_error", "entry"):
        if hasattr(step, attr):
            value = getattr(step, attr)
            changes[attr] = p(value) if value else value
    return replace(step, **changes)


def _hook_key(h: HookDef) -> object:
    return (h.kind, h.target)


def _intent_key(i: IntentDef) -> object:
    return (i.examples, tuple(p.pattern for p in i.patterns))


def _merge(at: int, what: str, into: dict[str, T], new: dict[str, T], *,
           key: Callable[[T], object], report: Report) -> None:  # fmt: skip
    for name, value in new.items():
        if name not in into:
            into[name] = value
        elif key(into[name]) != key(value):
            report(at, f"{what} {name!r} is defined differently here and in the sub-flow")
