"""Endpointing: when a caller's utterance ends, runs too long, or never starts.

Pure policy over media time (samples), fed by VAD transitions: no clock, no
I/O, so a 30 s turn is tested in microseconds. The silence that ends an
utterance changes per turn (longer for digits and phone numbers, shorter for
yes/no): `start_turn` takes the dialogue's settings for the next answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callbot.vad.base import VadState, VadTransition


@dataclass(frozen=True)
class EndpointSettings:
    silence_ms: int = 800  # silence after speech that ends the utterance
    max_utterance_ms: int = 15000  # an utterance is cut here even without a pause
    no_input_ms: int = 0  # 0: no no-input timeout for this turn
    min_speech_ms: int = 150  # shorter voice (a click, a cough) is not an utterance


class EndpointKind(enum.Enum):
    SPEECH_BEGIN = "speech_begin"
    END_OF_UTTERANCE = "end_of_utterance"
    MAX_LENGTH = "max_length"  # ended by `max_utterance_ms`
    DISCARDED = "discarded"  # voice too short to be an utterance
    NO_INPUT = "no_input"


@dataclass(frozen=True)
class EndpointEvent:
    kind: EndpointKind
    sample: int  # media position (input rate) where it happened
    start: int = 0  # utterance: first voiced sample
    end: int = 0  # utterance: just after the last voiced sample


class Endpointer:
    """Turns VAD transitions and the media position into utterance boundaries."""

    def __init__(self, sample_rate: int, settings: EndpointSettings | None = None) -> None:
        self.sample_rate = sample_rate
        self.settings = settings or EndpointSettings()
        self._turn_start = 0
        self._no_input_armed = False
        self.in_utterance = False
        self._start = 0
        self._last_voice = 0
        self._voiced = False  # VAD currently speaking (not stopping/quiet)

    def _samples(self, ms: int) -> int:
        return ms * self.sample_rate // 1000

    def start_turn(self, settings: EndpointSettings, at_sample: int) -> None:
        """New settings from now on; the no-input timer starts at `at_sample`."""
        self.settings = settings
        self._turn_start = at_sample
        self._no_input_armed = settings.no_input_ms > 0 and not self.in_utterance

    def on_vad(self, transition: VadTransition, last_voice: int) -> list[EndpointEvent]:
        out: list[EndpointEvent] = []
        state = transition.state
        self._last_voice = max(self._last_voice, last_voice)
        if state is VadState.SPEAKING:
            self._voiced = True
            if not self.in_utterance:
                self.in_utterance = True
                self._no_input_armed = False
                self._start = transition.speech_start
                out.append(EndpointEvent(EndpointKind.SPEECH_BEGIN, transition.sample, self._start))
        elif state in (VadState.STOPPING, VadState.QUIET):
            self._voiced = False
        return out

    def advance(self, position: int, last_voice: int) -> list[EndpointEvent]:
        """The media has reached `position`: fire whatever is due."""
        s = self.settings
        self._last_voice = max(self._last_voice, last_voice)
        if self.in_utterance:
            if position - self._start >= self._samples(s.max_utterance_ms):
                return [self._end(EndpointKind.MAX_LENGTH, position, position)]
            silent = position - self._last_voice
            if not self._voiced and silent >= self._samples(s.silence_ms):
                end = self._last_voice
                if end - self._start < self._samples(s.min_speech_ms):
                    return [self._end(EndpointKind.DISCARDED, position, end)]
                return [self._end(EndpointKind.END_OF_UTTERANCE, position, end)]
            return []
        if self._no_input_armed and position - self._turn_start >= self._samples(s.no_input_ms):
            self._no_input_armed = False
            return [EndpointEvent(EndpointKind.NO_INPUT, position)]
        return []

    def force_end(self, position: int) -> list[EndpointEvent]:
        """End an open utterance now (media stopped, hold, hang-up)."""
        if not self.in_utterance:
            return []
        end = position if self._voiced else self._last_voice
        return [self._end(EndpointKind.END_OF_UTTERANCE, position, end)]

    def _end(self, kind: EndpointKind, position: int, end: int) -> EndpointEvent:
        self.in_utterance = False
        self._voiced = False
        return EndpointEvent(kind, position, self._start, end)
