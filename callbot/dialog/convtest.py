"""Conversation tests: YAML scripts of caller turns and what the bot must say and do.

flow: lost_card_en.yaml          # relative to the test file
today: 2026-01-10                # the clock's date (default 2026-01-10)
tests:
  - name: happy path
    hooks: {block_card: {reference: "42"}}   # optional mocks ("error" = failure)
    never_recorded: ["4567"]                 # must not appear in any record
    turns:
      - bot: "How can I help"                # substring of a bot line since the last input
      - user: "I lost my card"               # also: dtmf, no_input, partial, confidence
      - slots: {reason: lost_card}
      - action: {type: transfer, target: "queue:cards"}
      - hints: {expect: digits, max_digits: 4}
      - recording: paused
      - ended: true
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callbot.dialog.events import (
    BotUtterance,
    Dtmf,
    Event,
    FinalTranscript,
    Hangup,
    NoInput,
    Output,
    PartialTranscript,
    RecordingControl,
    SendDtmf,
    SwitchLanguage,
    Transfer,
    TurnHints,
)
from callbot.dialog.formatters import _raw
from callbot.dialog.loader import load_flow
from callbot.dialog.runtime import LocalSession
from callbot.dialog.yamlsrc import LineDict, LineList, YamlSyntaxError, load_yaml

SessionFactory = Callable[[Path, dt.datetime, str | None, dict[str, Any]], LocalSession]
_EVENT_KEYS = ("user", "dtmf", "no_input", "partial")


@dataclass
class CaseResult:
    file: str
    name: str
    passed: bool
    message: str = ""
    line: int = 0


@dataclass
class _State:
    pending: list[Output] = field(default_factory=list)
    utterance: int = 0


def _action_matches(output: Output, want: dict[str, Any]) -> bool:
    kinds = {
        "transfer": Transfer,
        "hangup": Hangup,
        "send_dtmf": SendDtmf,
        "language": SwitchLanguage,
    }
    cls = kinds.get(str(want.get("type")))
    if cls is None or not isinstance(output, cls):
        return False
    fields = {"target": "target", "reason": "reason", "digits": "digits", "language": "language"}
    for key, attr in fields.items():
        if key in want and str(getattr(output, attr, None)) != str(want[key]):
            return False
    if "context" in want and isinstance(output, Transfer):
        return all(output.context.get(k) == str(v) for k, v in want["context"].items())
    return True


def _check(step: LineDict, state: _State, session: LocalSession) -> str | None:
    """None when the expectation holds, else what went wrong."""
    bots = [o.text for o in state.pending if isinstance(o, BotUtterance)]
    if "bot" in step:
        wanted = step["bot"] if isinstance(step["bot"], list) else [step["bot"]]
        for text in wanted:
            if not any(str(text).lower() in b.lower() for b in bots):
                return f"expected a bot line containing {text!r}; bot said {bots}"
    if "slots" in step:
        slots = session.manager.slots
        for name, value in step["slots"].items():
            got = slots.get(name)
            shown = None if got is None else _raw(got, None)
            if shown != (
                None
                if value is None
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            ):
                return f"slot {name!r}: expected {value!r}, got {shown!r}"
    if "action" in step:
        want = step["action"] if isinstance(step["action"], dict) else {"type": step["action"]}
        if not any(_action_matches(o, want) for o in state.pending):
            actions = [
                o.record()
                for o in state.pending
                if isinstance(o, (Transfer, Hangup, SendDtmf, SwitchLanguage))
            ]
            return f"expected action {dict(want)}; got {actions}"
    if "hints" in step:
        hints = [o for o in state.pending if isinstance(o, TurnHints)]
        if not hints:
            return "expected turn hints; none were produced"
        for key, value in step["hints"].items():
            got = getattr(hints[-1], key, "<no such hint>")
            if got != value and not (isinstance(got, tuple) and value in got):
                return f"hint {key!r}: expected {value!r}, got {got!r}"
    if "recording" in step:
        paused = [o.paused for o in state.pending if isinstance(o, RecordingControl)]
        want_paused = step["recording"] == "paused"
        if not paused or paused[-1] != want_paused:
            return f"expected recording {step['recording']}; got {paused}"
    if "ended" in step and session.manager.ended != bool(step["ended"]):
        return f"expected ended={step['ended']}, got {session.manager.ended}"
    return None


def _event(step: LineDict, state: _State) -> Event | None:
    if "user" in step:
        state.utterance += 1
        return FinalTranscript(
            str(step["user"]), float(step.get("confidence", 0.95)), f"c{state.utterance}"
        )
    if "partial" in step:
        return PartialTranscript(str(step["partial"]), 0.9, f"c{state.utterance + 1}")
    if "dtmf" in step:
        return Dtmf(str(step["dtmf"]))
    if "no_input" in step:
        return NoInput()
    return None


def run_case(
    case: LineDict, flow_path: Path, today: dt.datetime, factory: SessionFactory, file: str
) -> CaseResult:
    name = str(case.get("name", f"case at line {case.line}"))
    mocks = case.get("hooks") or {}
    session = factory(flow_path, today, case.get("language"), dict(mocks))
    state = _State(pending=session.start())
    turns = case.get("turns")
    if not isinstance(turns, LineList):
        return CaseResult(file, name, False, "'turns' must be a list", case.line)
    for i, step in enumerate(turns):
        line = turns.line_of(i)
        if not isinstance(step, LineDict):
            return CaseResult(file, name, False, "each turn is a mapping", line)
        event = _event(step, state)
        if event is not None:
            state.pending = session.send(event)
        problem = _check(step, state, session)
        if problem is not None:
            return CaseResult(file, name, False, problem, line)
    history = json.dumps(session.manager.history, ensure_ascii=False, default=str)
    for secret in case.get("never_recorded", []) or []:
        if str(secret) in history:
            return CaseResult(
                file, name, False, f"{secret!r} appears in the call record", case.line
            )
    return CaseResult(file, name, True, line=case.line)


def run_file(path: Path, factory: SessionFactory) -> list[CaseResult]:
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, YamlSyntaxError) as exc:
        line = exc.line if isinstance(exc, YamlSyntaxError) else 0
        return [CaseResult(str(path), "<file>", False, str(exc), line)]
    if (
        not isinstance(doc, LineDict)
        or "flow" not in doc
        or not isinstance(doc.get("tests"), LineList)
    ):
        return [CaseResult(str(path), "<file>", False, "a test file needs 'flow' and 'tests'", 1)]
    flow_path = (path.parent / str(doc["flow"])).resolve()
    today = dt.datetime.fromisoformat(str(doc.get("today", "2026-01-10")) + "T10:00:00")
    load_flow(flow_path)  # raise FlowError early: one message, not one per case
    return [run_case(case, flow_path, today, factory, str(path)) for case in doc["tests"]]
