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


_AUDIBLE = 300  # int16 level above which a synthesized sample counts as speech


def trimmed(pcm: Pcm, rate: int, *, lead_ms: int | None = None, tail_ms: int | None = None) -> Pcm:
    """`pcm` with its leading and/or trailing silence cut down to `lead_ms` / `tail_ms`.

    Pieces joined inside a sentence ("I will block the card ending in" + "four
    five six seven.") would otherwise keep each voice's sentence-edge silences:
    ~220 ms between two words instead of a word gap.
    """
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > _AUDIBLE)
    if loud.size == 0:
        return pcm
    start = 0 if lead_ms is None else max(0, int(loud[0]) - rate * lead_ms // 1000)
    end = pcm.size if tail_ms is None else min(pcm.size, int(loud[-1]) + 1 + rate * tail_ms // 1000)
    return pcm[start:end]


Submit = Callable[[bool, Callable[[], Pcm]], "asyncio.Future[Pcm]"]
"""Runs a synthesis job off the loop; the flag is True for an utterance's first piece."""
