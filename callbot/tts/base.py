"""The synthesizer contract: one blocking `synthesize()` per backend, a stream on top.

A backend answers one question: the PCM (at its own rate) for a piece of
text. `SynthesizeStream` does the rest: cutting text into pieces, running
each piece off the event loop (the first in the FRONT lane), resampling to
the call's rate and yielding audio in order as soon as each piece is ready.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from callbot.media.g711 import Pcm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceInfo:
    name: str  # "piper:en_US-joe-medium", "espeak-ng:ko"
    language: str
    neural: bool
    sample_rate: int


class Synthesizer(abc.ABC):
    """A loaded voice. `load()` once per process; `synthesize()` from any thread."""

    info: VoiceInfo
    warm_up_text = "Hello."

    @abc.abstractmethod
    def load(self) -> None:
        """Load files and check the program or model (seconds); idempotent."""

    @abc.abstractmethod
    def synthesize(self, text: str) -> Pcm:
        """Blocking: int16 PCM at `info.sample_rate` for `text` (one piece)."""

    def warm_up(self) -> float:
        """One synthesis so the first call does not pay for lazy init; returns seconds."""
        t0 = time.perf_counter()
        self.synthesize(self.warm_up_text)
        took = time.perf_counter() - t0
        log.info("voice warmed up", extra={"voice": self.info.name, "seconds": round(took, 3)})
        return took


def silence(rate: int, ms: int) -> Pcm:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


Submit = Callable[[bool, Callable[[], Pcm]], "asyncio.Future[Pcm]"]
"""Runs a synthesis job off the loop; the flag is True for an utterance's first piece."""
