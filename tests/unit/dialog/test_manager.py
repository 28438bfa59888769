"""The manager on scripted timelines (no models: patterns and exact examples only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path

import pytest

from callbot.dialog.events import (
    ActionFailed,
    BargeIn,
    BotUtterance,
    CallerTurn,
    Dtmf,
    EndTurn,
    FinalTranscript,
    FlowStarted,
    Hangup,
    HookRequest,
    HookResult,
    NoInput,
    Output,
    PartialTranscript,
    RecordingControl,
    SendDtmf,
    SwitchLanguage,
    Transfer,
    TurnHints,
)
from callbot.dialog.hooks import HookRegistry, HookRunner
from callbot.dialog.loader import load_flow
from callbot.dialog.manager import DialogueManager
from callbot.dialog.model import Flow

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"
NOW = dt.datetime(2026, 1, 10, 10, 0)


@pytest.fixture(scope="module")
def flow_en() -> Flow:
    return load_flow(EXAMPLES / "lost_card_en.yaml")


def new(flow: Flow) -> DialogueManager:
    return DialogueManager(flow, clock=lambda: NOW)


def bots(outputs: list[Output]) -> list[str]:
    return [o.text for o in outputs if isinstance(o, BotUtterance)]


def test_start_pins_version_and_gives_hints(flow_en: Flow) -> None:
    m = new(flow_en)
    out = m.start()
    assert out[0] == FlowStarted("lost_card_en", flow_en.version)
    hints = [o for o in out if isinstance(o, TurnHints)][-1]
    assert hints.expect == "intent" and hints.max_digits == 1
    assert m.waiting_for == "ask_reason"


def test_sensitive_digits_are_masked_everywhere(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    out = m.handle(FinalTranscript("I lost my card", 0.9, "a"))
    hints = [o for o in out if isinstance(o, TurnHints)][-1]
    assert hints.sensitive and hints.max_digits == 4 and hints.end_of_utterance_silence_ms == 1200
    assert out[-1] == RecordingControl(paused=True)
    out = m.handle(FinalTranscript("4 5 6 7", 0.9, "b"))
    assert next(o for o in out if isinstance(o, CallerTurn)).text == "[redacted]"
    assert RecordingControl(paused=False) in out
    out = m.handle(FinalTranscript("March 5th 1990", 0.9, "c"))
    utter = next(o for o in out if isinstance(o, BotUtterance))
    assert "four five six seven" in utter.text and "four five six seven" not in utter.record_text
    assert "4567" not in repr(utter)
    m.handle(FinalTranscript("can I talk to an agent", 0.9, "d"))
    record = json.dumps(m.history, default=str)
    assert "4567" not in record and "four five six seven" not in record
    assert m.masked_slots()["card_last4"] == "[redacted]"
    assert m.slots["card_last4"] == "4567"


def test_dtmf_inter_digit_timeout_and_hash(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    m.handle(Dtmf("1"))
    assert m.waiting_for == "ask_card"
    assert m.handle(Dtmf("45")) == []
    m.handle(NoInput())  # the inter-digit timeout ends keyed input: 2 digits is too short
    assert m.slots.get("card_last4") is None and m.waiting_for == "ask_card"
    m.handle(Dtmf("4567#"))  # '#' right after reaching max length is swallowed
    assert m.slots["card_last4"] == "4567" and m.waiting_for == "ask_dob"
    m.handle(Dtmf("900305"))
    m.handle(Dtmf("#"))
    assert m.slots["date_of_birth"] == dt.date(1990, 3, 5)


def test_partial_yes_ends_turn_and_final_is_dropped(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    out: list[Output] = []
    for text in ("I lost my card", "4567", "March 5th 1990", "yes"):
        out = m.handle(FinalTranscript(text, 0.9, text))
    assert m.handle(HookResult("nope", True, {})) == []  # unknown hook ids are ignored
    request = next(o for o in out if isinstance(o, HookRequest))
    m.handle(HookResult(request.id, True, {"reference": "42"}))
    assert m.waiting_for == "anything_else" and m.slots["reference"] == "42"
    out = m.handle(PartialTranscript("no", 0.5, "p1"))
    assert out[0] == EndTurn("p1") and isinstance(out[-1], Transfer) is False
    assert m.ended and any(isinstance(o, Hangup) for o in out)
    assert m.handle(FinalTranscript("no thanks", 0.9, "p1")) == []


def test_confirm_partial_no_waits_for_correction(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    for text in ("I lost my card", "1234", "March 5th 1990"):
        m.handle(FinalTranscript(text, 0.9, text))
    assert m.waiting_for == "confirm_block"
    assert m.handle(PartialTranscript("no", 0.5, "x")) == []
    m.handle(FinalTranscript("no, it's 4 5 6 7", 0.9, "x"))
    assert m.slots["card_last4"] == "4567" and m.waiting_for == "confirm_block"


def test_low_confidence_is_a_no_match_and_barge_in_is_recorded(flow_en: Flow) -> None:
    m = new(flow_en)
    first = m.start()
    utterance = [o for o in first if isinstance(o, BotUtterance)][-1]
    assert m.handle(BargeIn(utterance.id, "How can I")) == []
    out = m.handle(FinalTranscript("I lost my card", 0.1, "a"))
    assert "Sorry, I didn't get that." in bots(out) and m.waiting_for == "ask_reason"
    assert {
        "type": "barge_in",
        "utterance_id": utterance.id,
        "heard_text": "How can I",
    } in m.history


def test_hook_request_failure_and_transfer_failure_never_dead_end(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    out: list[Output] = []
    for text in ("I lost my card", "4567", "March 5th 1990", "yes"):
        out = m.handle(FinalTranscript(text, 0.9, text))
    request = next(o for o in out if isinstance(o, HookRequest))
    assert request.args["card_last4"] == "4567" and request.record()["args"] == {
        "card_last4": "[redacted]",
        "date_of_birth": "1990-03-05",
    }
    out = m.handle(HookResult(request.id, False, error="timeout"))
    transfer = next(o for o in out if isinstance(o, Transfer))
    assert transfer.context["card_last4"] == "[redacted]" and m.ended
    out = m.handle(ActionFailed(transfer.id, "busy"))
    assert any(isinstance(o, Hangup) for o in out) and bots(out)


def test_language_switch_send_dtmf_and_set(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text(
        """\
flow: lang
languages: [en, ko]
start: pick
steps:
  pick:
    ask: lang
    prompt: {en: "For Korean press 2", ko: "한국어는 2번"}
    expect:
      type: choice
      choices: {en: {words: [english], dtmf: 1}, ko: {words: [korean], dtmf: 2}}
    next: route
  route:
    branch:
      - if: "lang == 'ko'"
        goto: to_ko
      - else: done
  to_ko:
    language: ko
    next: mark
  mark:
    set: {count: 2}
    next: tone
  tone:
    send_dtmf: "12#"
    next: done
  done:
    hangup: completed
    prompt: {en: "You have {count|number} cards", ko: "카드가 {count|count:장} 있습니다"}
""",
        encoding="utf-8",
    )
    m = new(load_flow(flow))
    assert bots(m.start()) == ["For Korean press 2"]
    out = m.handle(Dtmf("2"))
    assert SwitchLanguage("a2", "ko") in out and any(isinstance(o, SendDtmf) for o in out)
    assert bots(out) == ["카드가 두 장 있습니다"]


def test_hook_runner_python_timeout_raise_and_webhook_allowlist(flow_en: Flow) -> None:
    registry = HookRegistry()
    registry.load_flow_hooks(flow_en)

    def slow(**_: object) -> dict[str, str]:
        time.sleep(0.5)
        return {}

    def boom(**_: object) -> dict[str, str]:
        raise ZeroDivisionError

    registry.register("slow", slow)
    registry.register("boom", boom)
    runner = HookRunner(registry, ["allowed.example"])

    def req(
        hook: str, kind: str = "python", target: str = "", timeout_ms: int = 200
    ) -> HookRequest:
        return HookRequest(
            "h1",
            hook,
            kind,
            target,
            timeout_ms,
            {"card_last4": "4567", "date_of_birth": dt.date(1990, 3, 5)},
            {},
        )

    ok = asyncio.run(runner.run(req("block_card")))
    assert ok.ok and ok.data == {"reference": "1852", "status": "blocked"}
    assert asyncio.run(runner.run(req("slow"))).error == "timeout"
    assert asyncio.run(runner.run(req("boom"))).error == "ZeroDivisionError"
    denied = asyncio.run(runner.run(req("crm", "webhook", "http://127.0.0.1:9/x")))
    assert not denied.ok and denied.error == "HookError"


def test_complete_answers_let_the_listener_end_a_turn_early(flow_en: Flow) -> None:
    m = new(flow_en)
    m.start()
    assert m.complete_answer("I lost my card")  # an intent: nothing more to wait for
    # A list or a clause may go on after the pause.
    assert not m.complete_answer("I lost my wallet, my card.")
    assert not m.complete_answer("I lost my card and")
    assert not m.complete_answer("um") and not m.complete_answer("")
    m.handle(FinalTranscript("I lost my card", 0.9, "a"))
    # Four digits of four: complete. Two so far (a pause between groups): wait.
    assert m.complete_answer("four five six seven")
    assert not m.complete_answer("four five")
    m.handle(FinalTranscript("4 5 6 7", 0.9, "b"))
    # A date may go on after a pause ("March fifth … 1990"): early only with its year.
    assert not m.complete_answer("March 5th")
    assert m.complete_answer("March 5th, 1990.")
    m.handle(FinalTranscript("March 5th 1990", 0.9, "c"))
    # The confirmation: "yes" ends it; "no" may be followed by a correction.
    assert m.complete_answer("yes")
    assert not m.complete_answer("no")
