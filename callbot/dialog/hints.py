"""Turn-taking derived from what an ask expects, overridable per step.

The values are starting points measured in call-centre practice: digits get
~1.2 s of silence (callers pause between groups) and end at their maximum
length; a yes/no ends as soon as a partial parses, and "yeah"/"네" there is an
answer, not a backchannel; free text uses the default silence.
"""

from __future__ import annotations

from dataclasses import dataclass

from callbot.dialog.events import TurnHints
from callbot.dialog.inputs import InputType
from callbot.dialog.model import AskStep


@dataclass(frozen=True)
class _Defaults:
    silence_ms: int
    no_input_ms: int
    early_end: bool = False


DEFAULT_SILENCE_MS = 800
INTER_DIGIT_MS = 3000
_BY_TYPE = {
    InputType.YES_NO: _Defaults(500, 5000, early_end=True),
    InputType.DIGITS: _Defaults(1200, 8000),
    InputType.PHONE: _Defaults(1200, 8000),
    InputType.NUMBER: _Defaults(1000, 6000),
    InputType.DATE: _Defaults(1000, 7000),
    InputType.TIME: _Defaults(800, 6000),
    InputType.CHOICE: _Defaults(700, 6000),
    InputType.INTENT: _Defaults(DEFAULT_SILENCE_MS, 7000),
    InputType.TEXT: _Defaults(DEFAULT_SILENCE_MS, 7000),
}
_STT_WORDS = {
    (InputType.YES_NO, "en"): ("yes", "no", "yeah", "nope", "correct"),
    (InputType.YES_NO, "ko"): ("네", "아니요", "예", "맞아요", "아니요"),
    (InputType.DIGITS, "en"): ("zero", "oh", "one", "two", "three", "four", "five", "six",
                               "seven", "eight", "nine", "double"),
    (InputType.DIGITS, "ko"): ("공", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구"),
}  # fmt: skip


def turn_hints(step: AskStep, language: str) -> TurnHints:
    spec = step.expect
    base = _BY_TYPE[spec.type]
    o = step.turn
    max_digits: int | None = None
    if spec.type in (InputType.DIGITS, InputType.PHONE):
        max_digits = spec.max_length
    elif spec.type is InputType.DATE:
        max_digits = 8
    elif spec.type is InputType.TIME:
        max_digits = 4
    elif spec.type in (InputType.YES_NO, InputType.CHOICE, InputType.INTENT):
        max_digits = 1
    words = list(_STT_WORDS.get((spec.type, language), ()))
    if spec.type is InputType.PHONE:
        words = list(_STT_WORDS.get((InputType.DIGITS, language), ()))
    for choice in spec.choices:
        words.extend((choice.name, *choice.synonyms))
    words.extend(o.stt_hints)
    early = base.early_end if o.early_end is None else o.early_end
    if step.confirm is not None:
        # "no, it's 4 5 6": a bare "no" partial may be the start of a correction.
        early = False
    return TurnHints(
        step=step.name,
        expect=spec.type.value,
        language=language,
        end_of_utterance_silence_ms=o.silence_ms or base.silence_ms,
        no_input_timeout_ms=o.no_input_ms or base.no_input_ms,
        max_digits=max_digits,
        dtmf_terminator="#",
        inter_digit_timeout_ms=INTER_DIGIT_MS,
        early_end_on_partial=early,
        allow_barge_in=True if o.interruptible is None else o.interruptible,
        backchannel_is_answer=spec.type is InputType.YES_NO,
        stt_hints=tuple(dict.fromkeys(words)),
        sensitive=step.sensitive,
    )
