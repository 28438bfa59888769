"""Semantic checks of a loaded flow: references, reachability, loops, slots, intents."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from callbot.dialog.errors import FlowIssue
from callbot.dialog.formatters import FORMATTERS
from callbot.dialog.inputs import InputType
from callbot.dialog.model import (
    AskStep,
    BranchStep,
    CallStep,
    Flow,
    GotoStep,
    HangupStep,
    LanguageStep,
    Prompt,
    ReturnStep,
    SayStep,
    SendDtmfStep,
    SetStep,
    Step,
    SubflowStep,
    TransferStep,
)
from callbot.dialog.yamlsrc import LineDict

BUILTIN_TARGETS = frozenset({"repeat", "goodbye", "escalate"})
BUILTIN_SLOTS = frozenset({"language", "flow_version", "heard_text"})
# Which slot types each formatter can speak.
_FORMATTER_TYPES: dict[str, frozenset[InputType]] = {
    "digits": frozenset({InputType.DIGITS, InputType.PHONE, InputType.NUMBER, InputType.TEXT}),
    "last4": frozenset({InputType.DIGITS, InputType.PHONE, InputType.TEXT}),
    "phone": frozenset({InputType.PHONE, InputType.DIGITS, InputType.TEXT}),
    "number": frozenset({InputType.NUMBER}),
    "ordinal": frozenset({InputType.NUMBER}),
    "count": frozenset({InputType.NUMBER}),
    "amount": frozenset({InputType.NUMBER}),
    "date": frozenset({InputType.DATE}),
    "time": frozenset({InputType.TIME}),
    "yesno": frozenset({InputType.YES_NO}),
}


def edges(step: Step) -> Iterator[tuple[str, int]]:
    """Every step name this step can go to, with the line that names it."""
    linear = (SayStep, AskStep, SetStep, SendDtmfStep, LanguageStep, CallStep, SubflowStep)
    if isinstance(step, SubflowStep) and step.entry:
        yield step.entry, step.line_of("subflow")
    if isinstance(step, linear) and step.next:
        yield step.next, step.line_of("next")
    if isinstance(step, AskStep) and step.on_no:
        yield step.on_no, step.line_of("on_no")
    if isinstance(step, CallStep) and step.on_error:
        yield step.on_error, step.line_of("on_error")
    if isinstance(step, BranchStep):
        for case in step.cases:
            yield case.target, case.target_line or case.line
        if step.otherwise:
            yield step.otherwise, step.line_of("else")
    if isinstance(step, GotoStep):
        yield step.target, step.line_of("goto")


def own_steps(flow: Flow) -> dict[str, Step]:
    """The steps written in this file; ``a/b`` steps come from sub-flows, checked in theirs."""
    return {name: step for name, step in flow.steps.items() if "/" not in name}


def site_line(flow: Flow, name: str) -> int:
    """A line in this file for step ``name``: a sub-flow's step maps to its calling step."""
    step = flow.steps.get(name.split("/", 1)[0])
    if step is None:
        return 0
    return step.line_of("subflow") if "/" in name else step.line


def _prompts(step: Step) -> Iterator[Prompt]:
    for attr in ("prompt", "reprompt", "no_input", "no_match"):
        p = getattr(step, attr, None)
        if isinstance(p, Prompt):
            yield p


def check_flow(flow: Flow, doc: LineDict, report: Callable[[int, str], None]) -> list[FlowIssue]:
    """Report errors through ``report``; return warnings."""
    warnings: list[FlowIssue] = []

    def warn(line: int, message: str) -> None:
        warnings.append(FlowIssue(flow.path, line, message, "warning"))

    steps = flow.steps
    if flow.start and flow.start not in steps:
        report(doc.line_of("start"), f"start step {flow.start!r} does not exist")
    _check_references(flow, doc, report)
    _check_reachability(flow, doc, report)
    _check_loops(flow, report)
    _check_slots_and_templates(flow, report, warn)
    _check_intents(flow, doc, report, warn)
    _check_hooks(flow, report)
    return warnings


def _check_references(flow: Flow, doc: LineDict, report: Callable[[int, str], None]) -> None:
    steps = flow.steps
    for step in own_steps(flow).values():
        for target, line in edges(step):
            if target not in steps:
                report(line, f"step {step.name!r} goes to unknown step {target!r}")
        terminal = (TransferStep, HangupStep, GotoStep, BranchStep, ReturnStep)
        if not isinstance(step, terminal) and getattr(step, "next", None) is None:
            report(step.line, f"step {step.name!r} has no 'next' (end with hangup or transfer)")
        if isinstance(step, BranchStep) and step.otherwise is None:
            report(step.line, f"branch {step.name!r} needs an 'else' so the call cannot dead-end")
        if isinstance(step, AskStep) and step.confirm and flow.ask_step_for(step.confirm) is None:
            report(
                step.line_of("confirm"),
                f"step {step.name!r} confirms slot {step.confirm!r} that no step asks",
            )
        if isinstance(step, TransferStep) and step.target not in flow.transfers:
            report(
                step.line_of("transfer"),
                f"transfer target {step.target!r} is not listed under 'transfers'",
            )
        if isinstance(step, LanguageStep) and step.language not in flow.languages:
            report(
                step.line_of("language"),
                f"language {step.language!r} is not in the flow's languages",
            )
    gi = doc.get("global_intents")
    for intent, target in flow.global_intents.items():
        line = gi.line_of(intent) if isinstance(gi, LineDict) else doc.line
        if target not in steps and target not in BUILTIN_TARGETS:
            report(line, f"global intent {intent!r} goes to unknown step {target!r}")
    esc = flow.settings.escalate
    if esc is not None and esc not in steps:
        settings = doc.get("settings")
        line = settings.line_of("escalate") if isinstance(settings, LineDict) else doc.line
        report(line, f"escalate step {esc!r} does not exist")


def _roots(flow: Flow) -> list[str]:
    roots = [flow.start, *flow.global_intents.values()]
    if flow.settings.escalate:
        roots.append(flow.settings.escalate)
    for step in flow.steps.values():
        if isinstance(step, AskStep) and step.confirm:
            back = flow.ask_step_for(step.confirm)
            if back:
                roots.append(back)
    return [r for r in roots if r in flow.steps]


def _check_reachability(flow: Flow, doc: LineDict, report: Callable[[int, str], None]) -> None:
    seen: set[str] = set()
    todo = _roots(flow)
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.steps:
            continue
        seen.add(name)
        todo.extend(t for t, _ in edges(flow.steps[name]))
    for name, step in own_steps(flow).items():
        if name not in seen:
            report(step.line, f"step {name!r} is unreachable")


def _check_loops(flow: Flow, report: Callable[[int, str], None]) -> None:
    """A cycle through steps that never wait for the caller would spin forever."""
    graph = {
        name: [
            t for t, _ in edges(step) if t in flow.steps and not isinstance(flow.steps[t], AskStep)
        ]
        for name, step in flow.steps.items()
        if not isinstance(step, AskStep)
    }
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    loop = " -> ".join([*cycle, nxt])
                    report(site_line(flow, nxt), f"loop {loop} never asks the caller anything")
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def defined_slots(flow: Flow) -> set[str]:
    """Slots some step fills (asks, sets, hook saves), the built-ins and the declared ``uses``."""
    slots = set(flow.slot_types) | set(BUILTIN_SLOTS) | set(flow.uses)
    for step in flow.steps.values():
        if isinstance(step, SetStep):
            slots.update(step.values)
        if isinstance(step, CallStep):
            slots.update(step.save)
    return slots


def _check_slots_and_templates(
    flow: Flow, report: Callable[[int, str], None], warn: Callable[[int, str], None]
) -> None:
    defined = defined_slots(flow)

    def known(slot: str) -> bool:
        return slot in defined or slot.startswith("caller.")

    for step in own_steps(flow).values():
        for prompt in _prompts(step):
            langs = set(prompt.texts) - {"*"}
            if langs and (missing := set(flow.languages) - langs):
                report(prompt.line, f"prompt has no text for {', '.join(sorted(missing))}")
            for lang, template in prompt.texts.items():
                for ph in template.placeholders:
                    if not known(ph.slot):
                        report(prompt.line, f"template uses undefined slot {ph.slot!r}")
                        continue
                    for check_lang in flow.languages if lang == "*" else [lang]:
                        if ph.formatter and ph.formatter not in FORMATTERS.get(check_lang, {}):
                            report(
                                prompt.line,
                                f"unknown formatter {ph.formatter!r} for {check_lang!r}",
                            )
                    kind = flow.slot_types.get(ph.slot)
                    allowed = _FORMATTER_TYPES.get(ph.formatter or "")
                    if kind is not None and allowed is not None and kind not in allowed:
                        what = f"{kind.value} slot {ph.slot!r}"
                        report(prompt.line, f"formatter {ph.formatter!r} cannot speak {what}")
                    if ph.slot in flow.sensitive_slots and ph.formatter != "last4":
                        warn(prompt.line, f"sensitive slot {ph.slot!r} is spoken in full")
        if isinstance(step, BranchStep):
            for case in step.cases:
                for name in sorted(case.condition.names):
                    if not known(name):
                        report(case.line, f"condition uses undefined slot {name!r}")
        if isinstance(step, CallStep):
            for slot in step.args.values():
                if not known(slot):
                    report(step.line_of("args"), f"hook argument uses undefined slot {slot!r}")
        if isinstance(step, TransferStep):
            for slot in step.context:
                if not known(slot):
                    report(
                        step.line_of("context"), f"transfer context uses undefined slot {slot!r}"
                    )


def _check_intents(
    flow: Flow, doc: LineDict, report: Callable[[int, str], None], warn: Callable[[int, str], None]
) -> None:
    used: set[str] = set(flow.global_intents)
    own = own_steps(flow)
    for step in flow.steps.values():
        if isinstance(step, AskStep) and step.expect.type is InputType.INTENT:
            for intent in step.expect.intents:
                used.add(intent)
                if intent not in flow.intents and step.name in own:
                    report(
                        step.line_of("expect"),
                        f"step {step.name!r} expects unknown intent {intent!r}",
                    )
    gi = doc.get("global_intents")
    for global_name in flow.global_intents:
        if global_name not in flow.intents:
            line = gi.line_of(global_name) if isinstance(gi, LineDict) else doc.line
            report(line, f"global intent {global_name!r} is not defined under 'intents'")
    for name, definition in flow.intents.items():
        if definition.line and not definition.examples and not definition.patterns:
            report(definition.line, f"intent {name!r} has no examples or patterns")
        elif definition.line and name not in used:
            warn(definition.line, f"intent {name!r} is never used")


def _check_hooks(flow: Flow, report: Callable[[int, str], None]) -> None:
    for step in own_steps(flow).values():
        if isinstance(step, CallStep) and step.hook not in flow.hooks:
            report(step.line_of("call"), f"step {step.name!r} calls undefined hook {step.hook!r}")
    for hook in flow.hooks.values():
        if hook.kind != "python":
            continue
        file, _, func = hook.target.rpartition(":")
        try:
            tree = ast.parse(Path(file).read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            continue  # a missing file is reported by the loader
        # Read, not import: checking a flow must not run its code.
        names = {
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        if func not in names:
            report(hook.line, f"hook {hook.name!r}: no function {func!r} in {Path(file).name}")
