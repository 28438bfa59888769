"""Reading a caller turn against the current ask: value, correction, global intent or nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from callbot.dialog import parse_en, parse_ko
from callbot.dialog.inputs import InputType, SlotValue, parse_dtmf, parse_text
from callbot.dialog.model import AskStep, Flow
from callbot.dialog.nlu.intents import IntentMatcher, build_index


@dataclass(frozen=True)
class Reading:
    kind: str  # "value" | "correction" | "intent" | "none"
    value: SlotValue | None = None
    intent: str | None = None
    rest: str = ""
    # An intent answer matched by similarity alone, not by a pattern or an example.
    fuzzy: bool = False


NOTHING = Reading("none")


class AnswerReader:
    """Typed parsers first, then intents; the same rules for every call of a flow."""

    def __init__(self, flow: Flow, matcher: IntentMatcher | None) -> None:
        self._flow = flow
        # Without an embedder, patterns and exact examples still match.
        self._matcher = matcher or IntentMatcher(
            flow.intents, build_index(flow.intents, None), None
        )
        self._globals = tuple(flow.global_intents)

    def _yes_no(self, text: str, language: str) -> tuple[bool, str] | None:
        return parse_ko.yes_no(text) if language == "ko" else parse_en.yes_no(text)

    def read_speech(self, ask: AskStep, text: str, language: str, today: dt.date) -> Reading:
        spec = ask.expect
        if spec.type is InputType.INTENT:
            m = self._matcher.match(text, (*spec.intents, *self._globals))
            if m.intent in spec.intents:
                return Reading("value", m.intent, fuzzy=m.via == "embedding")
            if m.intent is not None:
                return Reading("intent", intent=m.intent)
            return NOTHING
        if spec.type is not InputType.TEXT:
            reading = self._typed(ask, text, language, today)
            if reading is not None:
                return reading
        m = self._matcher.match(text, self._globals)
        if m.intent is not None:
            return Reading("intent", intent=m.intent)
        if spec.type is InputType.TEXT:
            parsed = parse_text(spec, text, language, today)
            return Reading("value", parsed.value) if parsed else NOTHING
        return NOTHING

    def _typed(self, ask: AskStep, text: str, language: str, today: dt.date) -> Reading | None:
        spec = ask.expect
        parsed = parse_text(spec, text, language, today)
        if ask.confirm is not None and spec.type is InputType.YES_NO:
            corrected = self._correction(
                ask.confirm, parsed.rest if parsed else text, language, today
            )
            if parsed is None:
                # The caller just said the right value ("4 5 6 7") instead of "no".
                return Reading("correction", corrected) if corrected is not None else None
            if parsed.value is False and corrected is not None:
                return Reading("correction", corrected)
            return Reading("value", parsed.value, rest=parsed.rest)
        if parsed is not None:
            return Reading("value", parsed.value, rest=parsed.rest)
        if spec.type is not InputType.YES_NO:
            # "no, it's 4 5 6" at a digits ask: drop the leading yes/no and read the rest.
            yn = self._yes_no(text, language)
            if yn is not None and yn[1]:
                again = parse_text(spec, yn[1], language, today)
                if again is not None:
                    return Reading("value", again.value)
        return None

    def _correction(self, slot: str, text: str, language: str, today: dt.date) -> SlotValue | None:
        step_name = self._flow.ask_step_for(slot)
        step = self._flow.steps.get(step_name) if step_name else None
        if not isinstance(step, AskStep) or not text.strip():
            return None
        if step.expect.type in (InputType.TEXT, InputType.INTENT, InputType.YES_NO):
            return None  # free text would swallow every "no, …"
        parsed = parse_text(step.expect, text, language, today)
        return parsed.value if parsed is not None else None

    def read_dtmf(self, ask: AskStep, keys: str, today: dt.date) -> Reading:
        parsed = parse_dtmf(ask.expect, keys, today)
        if parsed is not None:
            return Reading("value", parsed.value)
        return NOTHING
