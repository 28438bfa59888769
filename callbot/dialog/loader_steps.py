"""Building steps from their YAML mappings, collecting every error with its line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from callbot.dialog.conditions import ConditionError, parse_condition
from callbot.dialog.inputs import Choice, ExpectSpec, InputType, SlotValue
from callbot.dialog.model import (
    AskStep,
    BranchCase,
    BranchStep,
    CallStep,
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
    TurnOverrides,
)
from callbot.dialog.templates import TemplateError, parse_template
from callbot.dialog.yamlsrc import LineDict, LineList

Report = Callable[[int, str], None]

STEP_KINDS = ("say", "ask", "branch", "set", "call", "transfer", "hangup", "send_dtmf",
              "language", "goto", "subflow", "return")  # fmt: skip
_ALLOWED = {
    "say": {"next", "interruptible"},
    "ask": {"prompt", "expect", "sensitive", "reprompt", "no_input", "no_match", "confirm",
            "on_no", "turn", "next"},
    "branch": set(),
    "set": {"next"},
    "call": {"args", "save", "on_error", "next", "timeout_ms"},
    "transfer": {"context", "prompt"},
    "hangup": {"prompt"},
    "send_dtmf": {"next"},
    "language": {"next"},
    "goto": set(),
    "subflow": {"next"},
    "return": set(),
}  # fmt: skip
_TURN_KEYS = {"silence_ms", "no_input_ms", "early_end", "interruptible", "stt_hints"}


def build_prompt(value: Any, line: int, report: Report) -> Prompt | None:
    """A string, or a mapping language -> string."""
    raw: dict[str, tuple[str, int]] = {}
    if isinstance(value, str):
        raw["*"] = (value, line)
    elif isinstance(value, LineDict):
        for lang, text in value.items():
            if not isinstance(text, str):
                report(value.line_of(lang), f"prompt for {lang!r} must be text")
                continue
            raw[lang] = (text, value.line_of(lang))
    else:
        report(line, "a prompt must be text or a mapping of language to text")
        return None
    texts = {}
    for lang, (text, at) in raw.items():
        try:
            texts[lang] = parse_template(text)
        except TemplateError as exc:
            report(at, f"template: {exc}")
    return Prompt(texts, line) if texts else None


def _ref(d: LineDict, key: str, report: Report) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        report(d.line_of(key), f"{key!r} must be a step name")
        return None
    return value


def _int(d: LineDict, key: str, report: Report, default: int | None = None) -> int | None:
    value = d.get(key, default)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    report(d.line_of(key), f"{key!r} must be a non-negative integer")
    return default


def build_expect(value: Any, line: int, report: Report) -> ExpectSpec | None:
    if isinstance(value, str):
        value_d = LineDict({"type": value})
        value_d.line, value_d.key_lines = line, {}
        value = value_d
    if not isinstance(value, LineDict):
        report(line, "'expect' must be an input type or a mapping with 'type'")
        return None
    kind_text = value.get("type")
    try:
        kind = InputType(str(kind_text))
    except ValueError:
        names = ", ".join(t.value for t in InputType)
        report(value.line_of("type"), f"unknown input type {kind_text!r} (one of: {names})")
        return None
    allowed = {"type", "min", "max", "range", "choices", "intents"}
    for key in value:
        if key not in allowed:
            report(value.line_of(key), f"unknown key {key!r} in expect")
    lo, hi = _int(value, "min", report), _int(value, "max", report)
    choices: list[Choice] = []
    intents: list[str] = []
    intent_dtmf: list[tuple[str, str]] = []
    if kind is InputType.CHOICE:
        raw = value.get("choices")
        if not isinstance(raw, LineDict) or not raw:
            report(value.line_of("choices"), "a choice ask needs 'choices: {name: [words…]}'")
        else:
            for name, spec in raw.items():
                choices.append(_choice(name, spec, raw.line_of(name), report))
    if kind is InputType.INTENT:
        raw_i = value.get("intents")
        if isinstance(raw_i, LineList) and raw_i and all(isinstance(i, str) for i in raw_i):
            intents = list(raw_i)
        elif isinstance(raw_i, LineDict) and raw_i:  # {intent: dtmf key}
            for name, key in raw_i.items():
                intents.append(name)
                if key is not None:
                    intent_dtmf.append((str(key), name))
        else:
            report(value.line_of("intents"), "an intent ask needs 'intents: [names]'")
    date_range = value.get("range", "any")
    if date_range not in ("past", "future", "any"):
        report(value.line_of("range"), "'range' must be past, future or any")
        date_range = "any"
    numeric = kind is InputType.NUMBER
    return ExpectSpec(
        type=kind,
        min_length=(lo if lo is not None and not numeric else 1),
        max_length=(
            hi if hi is not None and not numeric else (15 if kind is InputType.PHONE else 32)
        ),
        minimum=lo if numeric else None,
        maximum=hi if numeric else None,
        date_range=str(date_range),
        choices=tuple(choices),
        intents=tuple(intents),
        intent_dtmf=tuple(intent_dtmf),
    )


def _choice(name: str, spec: Any, line: int, report: Report) -> Choice:
    if spec is None:
        return Choice(name)
    if isinstance(spec, LineList):
        return Choice(name, tuple(str(s) for s in spec))
    if isinstance(spec, LineDict):
        words = spec.get("words", [])
        dtmf = spec.get("dtmf")
        return Choice(name, tuple(str(w) for w in words), None if dtmf is None else str(dtmf))
    report(line, f"choice {name!r} must be a list of words or {{words: [...], dtmf: key}}")
    return Choice(name)


def _turn(value: Any, line: int, report: Report) -> TurnOverrides:
    if value is None:
        return TurnOverrides()
    if not isinstance(value, LineDict):
        report(line, "'turn' must be a mapping")
        return TurnOverrides()
    for key in value:
        if key not in _TURN_KEYS:
            report(value.line_of(key), f"unknown key {key!r} in turn (one of {sorted(_TURN_KEYS)})")
    hints = value.get("stt_hints", [])
    return TurnOverrides(
        silence_ms=_int(value, "silence_ms", report),
        no_input_ms=_int(value, "no_input_ms", report),
        early_end=value.get("early_end"),
        interruptible=value.get("interruptible"),
        stt_hints=tuple(str(h) for h in hints) if isinstance(hints, list) else (),
    )


def build_step(name: str, d: LineDict, report: Report) -> Step | None:
    step = _build_step(name, d, report)
    # Keep the line of every key so checks can point at the exact `next:` or `goto:`.
    return replace(step, key_lines=dict(d.key_lines)) if step is not None else None


def _build_step(name: str, d: LineDict, report: Report) -> Step | None:
    kinds = [k for k in STEP_KINDS if k in d]
    if len(kinds) != 1:
        what = "no step kind" if not kinds else f"several step kinds ({', '.join(kinds)})"
        report(d.line, f"step {name!r} has {what}; use exactly one of: {', '.join(STEP_KINDS)}")
        return None
    kind = kinds[0]
    for key in d:
        if key != kind and key not in _ALLOWED[kind]:
            report(d.line_of(key), f"unknown key {key!r} in {kind} step {name!r}")
    at = d.line
    head = d[kind]
    nxt = _ref(d, "next", report)
    if kind == "say":
        prompt = build_prompt(head, d.line_of("say"), report)
        return (
            SayStep(name, at, prompt, nxt, bool(d.get("interruptible", True))) if prompt else None
        )
    if kind == "ask":
        return _ask(name, d, report)
    if kind == "branch":
        return _branch(name, d, report)
    if kind == "set":
        if not isinstance(head, LineDict):
            report(d.line_of("set"), "'set' must map slot names to values")
            return None
        values: dict[str, SlotValue | None] = {}
        for slot, v in head.items():
            if v is not None and not isinstance(v, (str, int, bool)):
                report(
                    head.line_of(slot),
                    f"value of {slot!r} must be text, number, true/false or null",
                )
                continue
            values[slot] = v
        return SetStep(name, at, values, nxt)
    if kind == "call":
        return _call(name, d, report)
    if kind == "transfer":
        ctx = d.get("context", [])
        prompt = build_prompt(d["prompt"], d.line_of("prompt"), report) if "prompt" in d else None
        return TransferStep(name, at, str(head), tuple(str(c) for c in ctx), prompt)
    if kind == "hangup":
        prompt = build_prompt(d["prompt"], d.line_of("prompt"), report) if "prompt" in d else None
        return HangupStep(name, at, str(head or "completed"), prompt)
    if kind == "send_dtmf":
        digits = str(head)
        if not digits or any(c not in "0123456789*#ABCDw" for c in digits):
            report(d.line_of("send_dtmf"), "send_dtmf digits must be 0-9 * # A-D (w = pause)")
        return SendDtmfStep(name, at, digits, nxt)
    if kind == "language":
        return LanguageStep(name, at, str(head), nxt)
    if kind == "subflow":
        if not isinstance(head, str) or not head.strip():
            report(d.line_of("subflow"), "'subflow' must name a flow file (relative to this one)")
            return None
        return SubflowStep(name, at, head, nxt)
    if kind == "return":
        return ReturnStep(name, at)
    target = _ref(d, "goto", report)
    return GotoStep(name, at, target) if target else None


def _ask(name: str, d: LineDict, report: Report) -> AskStep | None:
    slot = d["ask"]
    if not isinstance(slot, str) or not slot.isidentifier():
        report(d.line_of("ask"), "'ask' must name the slot it fills (a plain identifier)")
        return None
    if "prompt" not in d:
        report(d.line, f"ask step {name!r} needs a 'prompt'")
        return None
    prompt = build_prompt(d["prompt"], d.line_of("prompt"), report)
    expect = build_expect(d.get("expect", "text"), d.line_of("expect"), report)
    if prompt is None or expect is None:
        return None

    def opt(key: str) -> Prompt | None:
        return build_prompt(d[key], d.line_of(key), report) if key in d else None

    confirm = d.get("confirm")
    if confirm is not None and expect.type is not InputType.YES_NO:
        report(d.line_of("confirm"), "'confirm' only makes sense on a yes_no ask")
    return AskStep(
        name, d.line, slot, prompt, expect, _ref(d, "next", report),
        sensitive=bool(d.get("sensitive", False)), reprompt=opt("reprompt"),
        no_input=opt("no_input"), no_match=opt("no_match"),
        confirm=str(confirm) if confirm is not None else None, on_no=_ref(d, "on_no", report),
        turn=_turn(d.get("turn"), d.line_of("turn"), report),
    )  # fmt: skip


def _branch(name: str, d: LineDict, report: Report) -> BranchStep | None:
    cases_raw = d["branch"]
    if not isinstance(cases_raw, LineList) or not cases_raw:
        report(d.line_of("branch"), "'branch' must be a list of {if: condition, goto: step}")
        return None
    cases: list[BranchCase] = []
    otherwise: str | None = None
    for i, case in enumerate(cases_raw):
        at = cases_raw.line_of(i)
        if isinstance(case, LineDict) and set(case) == {"else"}:
            otherwise = str(case["else"])
            d.key_lines["else"] = case.line_of("else")
            continue
        if not isinstance(case, LineDict) or set(case) != {"if", "goto"}:
            report(at, "each branch case is {if: condition, goto: step} or {else: step}")
            continue
        try:
            cond = parse_condition(str(case["if"]))
        except ConditionError as exc:
            report(case.line_of("if"), f"condition {case['if']!r}: {exc}")
            continue
        cases.append(BranchCase(cond, str(case["goto"]), at, case.line_of("goto")))
    return BranchStep(name, d.line, tuple(cases), otherwise)


def _call(name: str, d: LineDict, report: Report) -> CallStep | None:
    args, save = d.get("args", {}), d.get("save", {})
    if not isinstance(args, dict) or not isinstance(save, dict):
        report(d.line, "'args' and 'save' must be mappings")
        return None
    return CallStep(
        name, d.line, str(d["call"]), {str(k): str(v) for k, v in args.items()},
        {str(k): str(v) for k, v in save.items()}, _ref(d, "on_error", report),
        _ref(d, "next", report), _int(d, "timeout_ms", report),
    )  # fmt: skip
