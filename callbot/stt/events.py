"""What a Listener reports, and the per-turn settings it takes."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from callbot.turn.endpointing import EndpointSettings


class ListenEventKind(enum.Enum):
    SPEECH_BEGIN = "speech_begin"
    SPEECH_END = "speech_end"
    PARTIAL = "partial"
    FINAL = "final"
    NO_INPUT = "no_input"


@dataclass(frozen=True)
class WordTiming:
    text: str
    start_ms: int  # media time
    end_ms: int
    probability: float


@dataclass(frozen=True)
class ListenEvent:
    """One event; times are media times in ms (the call's media clock)."""

    kind: ListenEventKind
    media_time_ms: int
    utterance_id: str = ""
    text: str = ""
    stability: float = 0.0  # partials: share of words that stopped changing
    confidence: float = 0.0  # finals: mean word probability
    words: tuple[WordTiming, ...] = ()
    language: str = ""
    start_ms: int = 0
    end_ms: int = 0
    wait_ms: float = 0.0  # finals: wall time from the endpoint to this event


class HintsLike(Protocol):
    """The fields of `callbot.dialog.events.TurnHints` a listener uses."""

    end_of_utterance_silence_ms: int
    no_input_timeout_ms: int
    stt_hints: tuple[str, ...]


@dataclass(frozen=True)
class TurnSettings:
    """How to listen for the next answer."""

    silence_ms: int = 800
    max_utterance_ms: int = 15000
    no_input_ms: int = 0  # 0: no no-input event
    min_speech_ms: int = 150
    partial_interval_ms: int = 500  # of new speech between partials; 0: no partials
    prompt: str | None = None  # Whisper initial prompt (domain words, style)
    hotwords: tuple[str, ...] = ()
    language: str | None = None  # switch the call's language from this turn on
    # True when a transcript fully answers the question: the turn then ends after
    # `early_silence_ms` instead of `silence_ms` (the dialogue's complete_answer).
    complete: Callable[[str], bool] | None = None
    early_silence_ms: int = 300

    @classmethod
    def from_hints(cls, hints: HintsLike, **overrides: object) -> TurnSettings:
        base = cls(
            silence_ms=hints.end_of_utterance_silence_ms,
            no_input_ms=hints.no_input_timeout_ms,
            hotwords=tuple(hints.stt_hints),
        )
        return base if not overrides else cls(**{**base.__dict__, **overrides})

    def endpoint(self) -> EndpointSettings:
        return EndpointSettings(
            silence_ms=self.silence_ms,
            max_utterance_ms=self.max_utterance_ms,
            no_input_ms=self.no_input_ms,
            min_speech_ms=self.min_speech_ms,
        )


def stability(previous: str, current: str) -> float:
    """Share of `current`'s words that the previous partial already had, in order."""
    new = current.split()
    if not new:
        return 0.0
    same = 0
    for a, b in zip(previous.split(), new, strict=False):
        if a != b:
            break
        same += 1
    return same / len(new)
