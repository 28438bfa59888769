"""The VAD base: buffering, hysteresis and the quiet → starting → speaking → stopping machine.

Backends answer one question, the voice probability of one frame of their own
size; the base keeps everything else, so a backend is a few lines.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from callbot.media.g711 import Pcm
from callbot.media.resample import StreamResampler

Float = npt.NDArray[np.float32]


class VadState(enum.Enum):
    QUIET = "quiet"
    STARTING = "starting"  # voice heard, not yet long enough to be speech
    SPEAKING = "speaking"
    STOPPING = "stopping"  # speech paused; it may resume, or end at the endpoint


class VoiceProbability(Protocol):
    """A backend: the voice probability of one frame of `frame_samples` at `sample_rate`."""

    sample_rate: int
    frame_samples: int

    def probability(self, frame: Float) -> float: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class VadParams:
    threshold: float = 0.5  # a frame at or above it is voice
    neg_threshold: float = 0.35  # below it, silence; in between keeps the state
    start_ms: int = 96  # voice needed in `starting` to become `speaking`
    stop_ms: int = 96  # silence needed in `speaking` to become `stopping`
    release_ms: int = 600  # silence in `stopping` before `quiet` (endpointing decides earlier)


@dataclass(frozen=True)
class VadTransition:
    """The detector entered `state` at input sample `sample` (at the input rate)."""

    state: VadState
    sample: int
    speech_start: int  # first sample of the current speech run (starting/speaking/stopping)


class VoiceActivityDetector:
    """Feed int16 PCM at `sample_rate`; get state transitions at input sample positions."""

    def __init__(
        self, backend: VoiceProbability, sample_rate: int, params: VadParams | None = None
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {sample_rate}")
        self.backend = backend
        self.sample_rate = sample_rate
        self.params = params or VadParams()
        self._resampler = (
            StreamResampler(sample_rate, backend.sample_rate)
            if sample_rate != backend.sample_rate
            else None
        )
        self.reset()

    def reset(self) -> None:
        self.state = VadState.QUIET
        self.backend.reset()
        if self._resampler is not None:
            self._resampler.reset()
        self._pending: Float = np.zeros(0, dtype=np.float32)
        self._backend_samples = 0  # backend-rate samples judged so far
        self._run_start = 0
        self._voice_ms = 0.0
        self._silence_ms = 0.0
        self.last_voice_sample = 0  # input-rate sample just after the last voice frame
        self.last_probability = 0.0
        self.frames = 0

    def release(self) -> None:
        """The turn was ended inside this pause (early end): the pause counts as the
        end of speech, so what comes next needs a fresh onset (`start_ms` of voice),
        not the single voiced frame that resumes a pause."""
        if self.state is VadState.STOPPING:
            self.state = VadState.QUIET
            self._voice_ms = self._silence_ms = 0.0

    def _to_input(self, backend_sample: int) -> int:
        return backend_sample * self.sample_rate // self.backend.sample_rate

    def process(self, pcm: Pcm) -> list[VadTransition]:
        """Judge every whole frame now available; return the transitions, in order."""
        audio = self._resampler.process(pcm) if self._resampler is not None else pcm
        chunk = audio.astype(np.float32) / 32768.0
        self._pending = np.concatenate((self._pending, chunk)) if self._pending.size else chunk
        n = self.backend.frame_samples
        out: list[VadTransition] = []
        offset = 0
        while self._pending.size - offset >= n:
            frame = self._pending[offset : offset + n]
            offset += n
            p = self.backend.probability(frame)
            frame_start = self._backend_samples
            self._backend_samples += n
            self.frames += 1
            self.last_probability = p
            self._step(p, frame_start, n, out)
        self._pending = self._pending[offset:]
        return out

    def _step(self, p: float, frame_start: int, n: int, out: list[VadTransition]) -> None:
        par = self.params
        ms = n * 1000 / self.backend.sample_rate
        voice = p >= par.threshold
        silence = p < par.neg_threshold
        end = self._to_input(frame_start + n)
        if voice:
            self.last_voice_sample = end
        state = self.state
        if state is VadState.QUIET:
            if voice:
                self._run_start = self._to_input(frame_start)
                self._voice_ms = ms
                self._enter(VadState.STARTING, self._run_start, out)
        elif state is VadState.STARTING:
            if silence:
                self._enter(VadState.QUIET, end, out)
            elif voice:
                self._voice_ms += ms
            if voice and self._voice_ms >= par.start_ms:
                self._silence_ms = 0.0
                self._enter(VadState.SPEAKING, end, out)
        elif state is VadState.SPEAKING:
            self._silence_ms = self._silence_ms + ms if not voice else 0.0
            if self._silence_ms >= par.stop_ms:
                self._enter(VadState.STOPPING, end, out)
        elif state is VadState.STOPPING:
            if voice:
                self._silence_ms = 0.0
                self._enter(VadState.SPEAKING, end, out)
            else:
                self._silence_ms += ms
                if self._silence_ms >= par.stop_ms + par.release_ms:
                    self._enter(VadState.QUIET, end, out)

    def _enter(self, state: VadState, sample: int, out: list[VadTransition]) -> None:
        self.state = state
        out.append(VadTransition(state, sample, self._run_start))
