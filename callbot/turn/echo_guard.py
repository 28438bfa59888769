"""Keeps the bot's own voice, coming back on the caller's leg, from looking like the caller.

Two layers. WebRTC's echo canceller (the `livekit` package's
`AudioProcessingModule`) subtracts the bot's outbound audio, fed as the
far-end reference, from the inbound audio. It needs ~2 s of bot speech to
converge, so a gate also compares each 10 ms of (cancelled) inbound audio
with what the bot's echo could be now: while the bot talks, inbound audio
that is not clearly louder is silenced before the VAD sees it. The echo path
(delay, gain) is read from the raw inbound's energy envelope, and what the
canceller leaves of the echo is measured on frames that hold echo only.
Before the path is known, the loudest reference of the last `window_ms`
bounds the echo: as loud as the bot itself (a "mixed" fork: 0 dB, 0-40 ms)
until the canceller has heard `converge_ms`, `converged_gain` after that.
Caller speech over the bot still passes: it adds energy the echo cannot have.

Most forks carry no echo at all (the switch cancels it, or the fork is the
caller's leg only). There the canceller only hurts: during double talk its
suppressor eats the caller's words. So the raw inbound level is compared with
the reference too, and once a second of bot speech has come back at least
`echo_free_db` below the bot, the call counts as echo-free and the caller's
audio passes untouched (the canceller keeps adapting in the background).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from callbot.media.g711 import Pcm

log = logging.getLogger(__name__)
_HISTORY = 150  # 10 ms slots of envelope kept for the echo-path estimate
_MAX_LAG = 25  # slots: echo paths up to 250 ms
_MIN_CORR = 0.6
_MIN_RESIDUALS = 50  # echo-only frames measured before the canceller's leak is trusted
_MIN_RESIDUAL = 1e-3  # never assume the canceller removes more than 30 dB


@dataclass(frozen=True)
class EchoGuardSettings:
    cancel: bool = True  # run the WebRTC canceller (needs the `livekit` package)
    gate: bool = True
    window_ms: int = 260  # echo paths up to ~200 ms plus reverberation
    converge_ms: int = 2000  # reference heard before the canceller is trusted
    converged_gain: float = 0.1  # echo energy left after convergence (-10 dB, conservative)
    margin: float = 2.0  # inbound must exceed the possible echo by this (energy, 3 dB)
    floor_rms: float = 60.0  # reference quieter than this cannot echo audibly
    stream_delay_ms: int = 0
    # The canceller after a long far-end silence (the caller's answer): it may have to
    # find the echo again, so for this long into the bot's next words its measured
    # leak is not trusted and the gate holds anything under the possible echo.
    restart_after_ms: int = 1000
    restart_ms: int = 600
    echo_free_db: float = -30.0  # raw echo this far below the bot: no echo to remove


class EchoGuard:
    """Per call: `start()`, `reference()` each sent frame, `process()` inbound (10 ms multiples)."""

    def __init__(self, sample_rate: int, settings: EchoGuardSettings | None = None) -> None:
        self.sample_rate = sample_rate
        self.settings = settings or EchoGuardSettings()
        self._sub = sample_rate // 100  # 10 ms frames (the canceller's unit)
        self._apm: Any = None
        self._frame_cls: Any = None
        self._ref: deque[tuple[float, float]] = deque()  # (media ms, energy) per 10 ms
        self._ref_by_slot: dict[int, float] = {}  # 10 ms slot of the media clock -> energy
        self._residuals: deque[float] = deque(maxlen=_HISTORY)
        self._leak = 1.0  # measured from `_residuals` (see `_measure_leak`)
        self._raw_hist: deque[tuple[int, float]] = deque(maxlen=_HISTORY)
        self.echo_free = False  # decided from the raw inbound level while the bot talks
        self._echo_free_gain = 10 ** (self.settings.echo_free_db / 10)
        self._lag: int | None = None  # echo delay in 10 ms slots, once estimated
        self._gain = 1.0  # echo energy / reference energy at that delay
        self._since_estimate = 0
        self._ref_rest = np.zeros(0, dtype=np.int16)
        self._in_rest = np.zeros(0, dtype=np.int16)
        self._heard_ref_ms = 0
        self._last_loud_ref_ms = float("-inf")
        self._restart_until_ms = float("-inf")
        # 10 ms frames given to the canceller each way (kept in step: see `process`).
        self._render_frames = self._capture_frames = 0
        self._silence = np.zeros(self._sub, dtype=np.int16)
        self.gated_ms = 0
        self.reference_ms = 0

    def start(self) -> None:
        if not self.settings.cancel or self._apm is not None:
            return
        try:
            from livekit import rtc
        except ImportError:
            log.warning("echo cancellation off: the livekit package is not installed")
            return
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        self._apm.set_stream_delay_ms(self.settings.stream_delay_ms)
        self._frame_cls = rtc.AudioFrame

    @property
    def converged(self) -> bool:
        return self._apm is not None and self._heard_ref_ms >= self.settings.converge_ms

    def reference(self, pcm: Pcm, media_ms: float) -> None:
        """Bot audio as it leaves, stamped with the media time it left at."""
        data = np.concatenate((self._ref_rest, pcm)) if self._ref_rest.size else pcm
        n = self._sub
        whole = data.size - data.size % n
        for i in range(0, whole, n):
            frame = data[i : i + n]
            energy = _energy(frame)
            at = media_ms + i * 1000 / self.sample_rate
            self._ref.append((at, energy))
            self._ref_by_slot[round(at / 10)] = energy
            if energy > self.settings.floor_rms**2:
                self._heard_ref_ms += 10
                if at - self._last_loud_ref_ms > self.settings.restart_after_ms:
                    self._restart_until_ms = at + self.settings.restart_ms
                self._last_loud_ref_ms = at
            self.reference_ms += 10
            if self._apm is not None and not self.echo_free:  # see `_cancel`
                self._apm.process_reverse_stream(self._frame(frame))
                self._render_frames += 1
        self._ref_rest = data[whole:].copy()

    def process(self, pcm: Pcm, media_ms: float) -> Pcm:
        """Caller audio in; cancelled (and gated) audio of the same length out."""
        data = np.concatenate((self._in_rest, pcm)) if self._in_rest.size else pcm
        n = self._sub
        whole = data.size - data.size % n
        out = np.empty(whole, dtype=np.int16)
        start_ms = media_ms - self._in_rest.size * 1000 / self.sample_rate
        for i in range(0, whole, n):
            frame = data[i : i + n]
            at_ms = start_ms + i * 1000 / self.sample_rate
            raw = _energy(frame)
            self._raw_hist.append((round(at_ms / 10), raw))
            if self._apm is not None:
                frame = self._cancel(frame)
            # `_is_echo` also feeds the echo-path estimate, which can end echo_free.
            if self.settings.gate and self._is_echo(frame, raw, at_ms) and not self.echo_free:
                frame = np.zeros(n, dtype=np.int16)
                self.gated_ms += 10
            out[i : i + n] = frame
        self._in_rest = data[whole:].copy()
        # Keep the length: the sub-frame remainder leaves with the next frame (10 ms late at most).
        if out.size < pcm.size:
            out = np.concatenate((np.zeros(pcm.size - out.size, dtype=np.int16), out))
        return out[-pcm.size :] if out.size > pcm.size else out

    def _cancel(self, frame: Pcm) -> Pcm:
        """One 10 ms inbound frame through the canceller.

        The canceller (two native calls per 10 ms, the guard's largest cost) rests
        on an echo-free call, where it has nothing to remove; `reference` then
        skips the far-end frames too, so the two streams stay in step. (Resting it
        while the bot is merely quiet was tried: after the rest it let the echo of
        the bot's next reply through.)
        """
        if self.echo_free:
            return frame
        if self._render_frames <= self._capture_frames:
            # The bot is silent: the canceller still needs a far-end frame per
            # near-end frame, or its delay estimate slips by the silence and,
            # when the bot speaks again, it adds a misaligned echo instead of
            # removing it.
            self._apm.process_reverse_stream(self._frame(self._silence))
            self._render_frames += 1
        self._capture_frames += 1
        f = self._frame(frame)
        self._apm.process_stream(f)
        return np.frombuffer(f.data, dtype=np.int16).copy()

    def _is_echo(self, frame: Pcm, raw: float, at_ms: float) -> bool:
        """Whether a (cancelled) 10 ms frame is no louder than the bot's echo can be.

        Once the echo path is known (delay and gain, from the raw inbound), the
        echo expected now is the reference one delay ago times that gain, and
        what the canceller leaves of it is measured on frames that hold echo
        only. Before that, the loudest recent reference bounds it.
        """
        s = self.settings
        while self._ref and self._ref[0][0] < at_ms - s.window_ms - 20:
            self._ref.popleft()
        slot = round(at_ms / 10)
        energy = _energy(frame)
        self._since_estimate += 1
        if self._since_estimate >= 10:
            self._estimate_path(slot)
        worst = max((e for t, e in self._ref if t <= at_ms + 10), default=0.0)
        if worst <= s.floor_rms**2:
            return False
        if self._lag is not None:
            near = max(self._ref_by_slot.get(slot - self._lag + k, 0.0) for k in (-1, 0, 1))
            expected = near * self._gain
            if expected > s.floor_rms**2 and raw <= expected * s.margin:
                # Echo only (the caller would add energy): how much the canceller leaves.
                self._residuals.append(min(1.0, energy / expected))
            leak = self._leak
            if at_ms <= self._restart_until_ms + self._lag * 10:
                # The canceller may be finding the echo again: as if it removed nothing,
                # and no quieter than what the loudest recent bot frame could leave.
                leak, expected = 1.0, max(expected, worst * s.converged_gain)
            # Below the floor is echo too: a faint leak still sounds like speech to the VAD.
            return energy <= max(expected * leak * s.margin, s.floor_rms**2)
        gain = s.converged_gain if self.converged else 1.0
        return energy <= worst * gain * s.margin

    def _measure_leak(self) -> None:
        """What the canceller leaves of the echo (energy ratio), from recent echo-only frames.

        A high percentile: the canceller's leak comes in bursts, and one loud
        burst the gate lets through can start speech. Until enough is measured,
        nothing is assumed cancelled.
        """
        if len(self._residuals) >= _MIN_RESIDUALS:
            leak = float(np.percentile(self._residuals, 90))
            self._leak = min(1.0, max(_MIN_RESIDUAL, leak))
        else:
            self._leak = 1.0

    def _estimate_path(self, slot: int) -> None:
        """Echo delay and gain from the raw inbound's energy envelope (log-energy
        correlation with the reference over ~1.5 s).

        The raw inbound, not the cancelled one: after the canceller the echo is
        a decorrelated leak, and a delay read from it can be wrong by 50 ms.
        """
        self._since_estimate = 0
        self._measure_leak()
        floor = self.settings.floor_rms**2
        for old in [k for k in self._ref_by_slot if k < slot - _HISTORY - _MAX_LAG]:
            del self._ref_by_slot[old]
        hist = np.array(self._raw_hist, dtype=np.float64).reshape(-1, 2)
        slots, raw = hist[:, 0].astype(np.int64), hist[:, 1]
        self._judge_echo_free(floor, slots, raw)
        if len(self._raw_hist) < _HISTORY // 2:
            return
        inbound = np.log10(raw + 1.0)
        if not inbound.std():
            return  # digital silence: nothing to correlate with
        # The reference at every lag at once: row `lag` holds what the bot sent `lag`
        # slots before each inbound slot.
        first = int(slots.min()) - _MAX_LAG
        span = self._ref_span(first, int(slots.max()))
        lags = np.arange(_MAX_LAG + 1)
        refs = span[(slots - first)[None, :] - lags[:, None]]
        usable = np.count_nonzero(refs > floor, axis=1) >= _HISTORY // 4
        if not usable.any():
            return
        logs = np.log10(refs + 1.0)
        logs -= logs.mean(axis=1, keepdims=True)
        centred = inbound - inbound.mean()
        norms = np.sqrt((logs**2).sum(axis=1) * (centred**2).sum())
        usable &= norms > 0
        corr = np.where(usable, logs @ centred / np.where(norms > 0, norms, 1.0), 0.0)
        best_lag = int(np.argmax(corr))
        best = float(corr[best_lag])
        if best < _MIN_CORR:
            return
        ref = refs[best_lag]
        loud = ref > floor
        ratios = np.exp(inbound[loud] * np.log(10)) / ref[loud]
        if self._lag is not None and abs(best_lag - self._lag) > 1:
            self._residuals.clear()  # another path: what was measured on the old one is moot
        self._lag = best_lag
        self._gain = float(np.clip(np.percentile(ratios, 40), 1e-3, 4.0))
        if self._gain > self._echo_free_gain and self.echo_free:
            # The bot's voice does come back after all. The canceller rested while the
            # call was echo-free: until it has heard the bot again, do not trust it.
            self.echo_free = False
            self._heard_ref_ms = 0

    def _judge_echo_free(self, floor: float, slots: npt.NDArray[np.int64],
                         raw: npt.NDArray[np.float64]) -> None:  # fmt: skip
        """Echo-free when the raw inbound stays far below the bot's audio of the last 250 ms."""
        if len(self._raw_hist) < _HISTORY:
            return
        first = int(slots[0]) - _MAX_LAG
        ref = self._ref_span(first, int(slots[-1]))
        # Mean reference energy over each slot's echo window (any delay up to 250 ms).
        window = np.convolve(ref, np.ones(_MAX_LAG + 1) / (_MAX_LAG + 1), mode="valid")
        near = window[slots - int(slots[0])]
        loud = near > floor
        if np.count_nonzero(loud) < _HISTORY * 2 // 3:
            return  # not enough bot speech heard back yet: keep the last verdict
        # The 40th percentile: a caller talking over part of it does not hide an echo.
        # Sticky: a caller talking over the bot for long is not an echo; only a
        # correlated echo path (`_estimate_path`) takes the verdict back.
        if float(np.percentile(raw[loud] / near[loud], 40)) < self._echo_free_gain:
            self.echo_free = True

    def _ref_span(self, first: int, last: int) -> npt.NDArray[np.float64]:
        """Reference energy of every 10 ms slot from `first` to `last` (0 where none was sent)."""
        get = self._ref_by_slot.get
        return np.fromiter((get(k, 0.0) for k in range(first, last + 1)), dtype=np.float64,
                           count=last - first + 1)  # fmt: skip

    def _frame(self, pcm: Pcm) -> Any:
        return self._frame_cls(pcm.astype(np.int16).tobytes(), self.sample_rate, 1, pcm.size)


def _energy(frame: Pcm) -> float:
    f = frame.astype(np.float32)
    return float(np.dot(f, f)) / f.size if f.size else 0.0
