"""In-band DTMF detection on decoded PCM (Goertzel / single-bin DFT), 8 or 16 kHz.

Each 25.6 ms window (205 samples at 8 kHz, the classic Goertzel size), stepped by
an eighth of its length, is tested at the 8 DTMF frequencies and their second
harmonics. A window votes for a key when the strongest row and column tones are
loud enough, within the twist limits, clear of the other tones in their group,
carry most of the window's energy, have weak second harmonics and are steady
across the window. A key is reported once its votes span `min_tone_ms` and
after `min_gap_ms` without votes; it then carries its start sample and duration.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from callbot.media.g711 import Pcm

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")

Float = npt.NDArray[np.float64]
# Windows analysed per matrix product: bounds the memory per call and keeps a
# whole-buffer `detect_dtmf` on products small enough for single-threaded BLAS.
_CHUNK_WINDOWS = 64


@dataclass(frozen=True)
class DetectedDigit:
    """A key heard in the audio: first sample of the tone and its length, in samples."""

    digit: str
    start: int
    duration: int


def _db(value: float) -> float:
    return float(10.0 ** (value / 10.0))


@functools.cache
def _cos_sin_basis(
    freqs: tuple[float, ...], window: int, sample_rate: int, dtype: type = np.float64
) -> npt.NDArray[Any]:
    """Rows cos(w n) for each frequency, then sin(w n): the real and imaginary DFT
    parts up to sign, which squared magnitudes do not see.

    Shared by every detector at a rate (read-only): one copy per call would be
    26 KB each and push hundreds of calls' bases out of the CPU caches.
    """
    phase = 2.0 * np.pi * np.outer(freqs, np.arange(window)) / sample_rate
    basis: npt.NDArray[Any] = np.vstack((np.cos(phase), np.sin(phase))).astype(dtype)
    basis.flags.writeable = False
    return basis


class DtmfDetector:
    """Streaming in-band DTMF detector for one mono int16 stream."""

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        min_tone_ms: float = 40.0,
        min_gap_ms: float = 30.0,
        min_level_dbfs: float = -36.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        peak_margin_db: float = 8.0,
        min_tone_ratio: float = 0.5,
        harmonic_db: float = -10.0,
        steadiness_db: float = 3.0,
        batch_ms: float = 0.0,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"DTMF detection runs at 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.window = round(0.0256 * sample_rate)
        self.hop = self.window // 8
        # Audio is analysed once this much is queued: numpy's fixed cost per call
        # dominates on single 20 ms frames, so a call's media batches ~100 ms.
        self._batch = round(batch_ms / 1000 * sample_rate)
        # Windows vote once the tone covers most of them, so a run of votes from
        # window start `first` to `last` is a tone from first + hop lasting
        # last - first + window - 2 hops (calibrated on clean synthetic tones).
        self._min_tone = round(min_tone_ms / 1000 * sample_rate) - 2 * self.hop
        self._release = math.ceil((min_gap_ms / 1000 * sample_rate + self.window) / self.hop) - 3
        amplitude = 32768.0 * 10.0 ** (min_level_dbfs / 20.0)
        self._min_power = (amplitude * self.window / 2.0) ** 2  # |X|^2 of such a sine
        self._normal_twist = _db(normal_twist_db)
        self._reverse_twist = _db(reverse_twist_db)
        self._peak_margin = _db(peak_margin_db)
        self._min_tone_ratio = min_tone_ratio
        self._harmonic = math.sqrt(_db(harmonic_db))
        self._steadiness = _db(-steadiness_db)
        self._fund_basis32 = _cos_sin_basis(ROWS + COLS, self.window, sample_rate, np.float32)
        self._harm_basis = _cos_sin_basis(
            tuple(2 * f for f in ROWS + COLS), self.window, sample_rate
        )
        # Amplitude leaking from each column tone into each row's second harmonic
        # (and back): a rectangular window's Dirichlet kernel, so real keys whose
        # harmonic bins sit near the other group are not mistaken for speech.
        self._leak = np.zeros((8, 8))
        for i, f in enumerate(ROWS + COLS):
            for j, g in enumerate(ROWS + COLS):
                delta = math.pi * (2 * f - g) / sample_rate
                self._leak[i, j] = (
                    abs(math.sin(delta * self.window) / math.sin(delta)) / self.window
                )
        self.reset()

    def reset(self) -> None:
        # Samples not yet analysed are _buf[:_fill]; the buffer is reused (and
        # grown when needed) so that queuing a frame is one slice assignment.
        self._buf: Float = np.zeros(max(2 * self._batch, 4 * self.window))
        self._fill = 0
        self._offset = 0  # stream sample index of _buf[0]
        self._next_window = 0  # stream sample index where the next window starts
        self._digit: str | None = None
        self._first = self._last = 0  # window start samples of the first/last vote
        self._misses = 0

    def process(self, pcm: Pcm) -> list[DetectedDigit]:
        """Feed a chunk; return the keys that ended in it."""
        fill = self._fill + len(pcm)
        if fill > len(self._buf):
            grown = np.zeros(2 * fill)
            grown[: self._fill] = self._buf[: self._fill]
            self._buf = grown
        self._buf[self._fill : fill] = pcm
        self._fill = fill
        if fill - (self._next_window - self._offset) < self._batch:
            return []
        pending = self._buf[:fill]
        # Too quiet for any window to hold a tone at the minimum level
        # (|X|^2 <= N * energy): silence and low noise cost one dot product.
        quiet = float(np.dot(pending, pending)) * self.window < self._min_power
        count = (fill - (self._next_window - self._offset) - self.window) // self.hop + 1
        if count <= 0:
            return []
        begin = self._next_window - self._offset
        out: list[DetectedDigit] = []
        for first in range(0, count, _CHUNK_WINDOWS):
            chunk = min(_CHUNK_WINDOWS, count - first)
            if quiet:
                votes: list[str | None] = [None] * chunk
            else:
                votes = self._votes(pending, begin + first * self.hop, chunk)
            if self._digit is None and not any(votes):
                continue  # no key sounding and none starting: nothing to step
            for k, vote in enumerate(votes):
                self._step(vote, self._next_window + (first + k) * self.hop, out)
        self._next_window += count * self.hop
        drop = self._next_window - self._offset
        self._buf[: fill - drop] = self._buf[drop:fill]  # numpy copies overlaps safely
        self._fill = fill - drop
        self._offset += drop
        return out

    def flush(self) -> list[DetectedDigit]:
        """End of stream: report a key still sounding."""
        out: list[DetectedDigit] = []
        self._close(out)
        self.reset()
        return out

    def _step(self, vote: str | None, start: int, out: list[DetectedDigit]) -> None:
        if vote is not None and vote == self._digit:
            self._last, self._misses = start, 0
            return
        if self._digit is not None:
            self._misses += 1
            if vote is not None or self._misses >= self._release:
                self._close(out)
        if vote is not None and self._digit is None:
            self._digit, self._first, self._last, self._misses = vote, start, start, 0

    def _close(self, out: list[DetectedDigit]) -> None:
        duration = self._last - self._first + self.window - 2 * self.hop
        if self._digit is not None and duration >= self._min_tone:
            out.append(DetectedDigit(self._digit, self._first + self.hop, duration))
        self._digit = None

    def _votes(self, signal: Float, begin: int, count: int) -> list[str | None]:
        """The key each of `count` windows from `signal[begin:]`, a hop apart, votes for.

        The level test runs first, on the fundamentals alone; everything else is
        computed only for the windows that pass it.
        """
        votes: list[str | None] = [None] * count
        n = self.window
        if begin < 0 or begin + (count - 1) * self.hop + n > len(signal):
            raise ValueError(f"{count} windows from {begin} overrun {len(signal)} samples")
        # Overlapping windows as a strided view, copied once for the level test.
        item = signal.itemsize
        windows: Float = np.ndarray(
            (count, n), np.float64, signal, begin * item, (self.hop * item, item)
        )
        # The level test in float32 (half the cost of the matrix product, and its
        # 7 digits are far finer than any threshold here). Frequencies along the
        # first axis keep each bin's values contiguous. A real cos/sin product: a
        # complex one this small goes multi-threaded in OpenBLAS and costs ten
        # times more in thread wake-ups.
        spec = self._fund_basis32 @ windows.astype(np.float32).T
        spec *= spec
        power = spec[:8] + spec[8:]
        rows, cols = power[:4], power[4:]
        pr, pc = np.maximum.reduce(rows, axis=0), np.maximum.reduce(cols, axis=0)
        # The level test alone rejects silence, speech pauses and most speech.
        ok = (pr >= self._min_power) & (pc >= self._min_power)
        if not np.count_nonzero(ok):
            return votes
        keep = np.flatnonzero(ok)
        frames = windows[keep]
        rows = rows[:, keep].astype(np.float64)
        cols = cols[:, keep].astype(np.float64)
        pr, pc = pr[keep].astype(np.float64), pc[keep].astype(np.float64)
        total = np.einsum("ij,ij->i", frames, frames)
        # Energy of the two sines over the window is 2|X|^2/N each.
        ok = 2.0 * (pr + pc) / n >= self._min_tone_ratio * total
        ok &= (pc <= pr * self._normal_twist) & (pr <= pc * self._reverse_twist)
        ok &= np.sort(rows, axis=0)[-2] * self._peak_margin <= pr
        ok &= np.sort(cols, axis=0)[-2] * self._peak_margin <= pc
        r = np.argmax(rows, axis=0)
        c = np.argmax(cols, axis=0)
        harm = self._harm_basis @ frames.T
        at = np.arange(len(keep))
        hr = np.hypot(harm[r, at], harm[8 + r, at])
        hc = np.hypot(harm[4 + c, at], harm[12 + c, at])
        mr, mc = np.sqrt(pr), np.sqrt(pc)
        ok &= hr <= self._harmonic * mr + self._leak[r, c + 4] * mc
        ok &= hc <= self._harmonic * mc + self._leak[c + 4, r] * mr
        half = n // 2
        first_half = np.einsum("ij,ij->i", frames[:, :half], frames[:, :half])
        second_half = total - first_half
        ok &= np.minimum(first_half, second_half) >= self._steadiness * np.maximum(
            first_half, second_half
        )
        for i in np.flatnonzero(ok).tolist():
            votes[int(keep[i])] = KEYS[r[i]][c[i]]
        return votes


def detect_dtmf(pcm: Pcm, sample_rate: int = 8000) -> list[DetectedDigit]:
    """All keys in a whole buffer."""
    detector = DtmfDetector(sample_rate)
    return detector.process(pcm) + detector.flush()
