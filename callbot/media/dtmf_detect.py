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

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from callbot.media.g711 import Pcm

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")

Float = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectedDigit:
    """A key heard in the audio: first sample of the tone and its length, in samples."""

    digit: str
    start: int
    duration: int


def _db(value: float) -> float:
    return float(10.0 ** (value / 10.0))


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
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"DTMF detection runs at 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.window = round(0.0256 * sample_rate)
        self.hop = self.window // 8
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
        freqs = np.array(ROWS + COLS + tuple(2 * f for f in ROWS + COLS))
        n = np.arange(self.window)
        self._basis = np.exp(-2j * np.pi * freqs[:, None] * n[None, :] / sample_rate)
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
        self._pending: Float = np.zeros(0)
        self._offset = 0  # stream sample index of _pending[0]
        self._next_window = 0  # stream sample index where the next window starts
        self._digit: str | None = None
        self._first = self._last = 0  # window start samples of the first/last vote
        self._misses = 0

    def process(self, pcm: Pcm) -> list[DetectedDigit]:
        """Feed a chunk; return the keys that ended in it."""
        self._pending = np.concatenate((self._pending, pcm.astype(np.float64)))
        count = (
            len(self._pending) - (self._next_window - self._offset) - self.window
        ) // self.hop + 1
        if count <= 0:
            return []
        begin = self._next_window - self._offset
        starts = begin + self.hop * np.arange(count)
        frames = self._pending[starts[:, None] + np.arange(self.window)[None, :]]
        votes = self._vote(frames)
        out: list[DetectedDigit] = []
        for k, vote in enumerate(votes):
            self._step(vote, self._next_window + k * self.hop, out)
        self._next_window += count * self.hop
        drop = self._next_window - self._offset
        self._pending = self._pending[drop:]
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

    def _vote(self, frames: Float) -> list[str | None]:
        """The key each window votes for, or None."""
        spectrum = frames @ self._basis.T
        power = np.abs(spectrum) ** 2
        magnitude = np.abs(spectrum)
        total = np.einsum("ij,ij->i", frames, frames)
        half = self.window // 2
        first_half = np.einsum("ij,ij->i", frames[:, :half], frames[:, :half])
        second_half = total - first_half
        rows, cols = power[:, :4], power[:, 4:8]
        r = np.argmax(rows, axis=1)
        c = np.argmax(cols, axis=1)
        idx = np.arange(len(frames))
        pr, pc = rows[idx, r], cols[idx, c]
        ok = (pr >= self._min_power) & (pc >= self._min_power)
        ok &= (pc <= pr * self._normal_twist) & (pr <= pc * self._reverse_twist)
        rows_sorted = np.sort(rows, axis=1)
        cols_sorted = np.sort(cols, axis=1)
        ok &= rows_sorted[:, -2] * self._peak_margin <= pr
        ok &= cols_sorted[:, -2] * self._peak_margin <= pc
        # Energy of the two sines over the window is 2|X|^2/N each.
        ok &= 2.0 * (pr + pc) / self.window >= self._min_tone_ratio * total
        mr, mc = magnitude[idx, r], magnitude[idx, c + 4]
        hr, hc = magnitude[idx, 8 + r], magnitude[idx, 12 + c]
        ok &= hr <= self._harmonic * mr + self._leak[r, c + 4] * mc
        ok &= hc <= self._harmonic * mc + self._leak[c + 4, r] * mr
        ok &= np.minimum(first_half, second_half) >= self._steadiness * np.maximum(
            first_half, second_half
        )
        return [KEYS[r[i]][c[i]] if ok[i] else None for i in range(len(frames))]


def detect_dtmf(pcm: Pcm, sample_rate: int = 8000) -> list[DetectedDigit]:
    """All keys in a whole buffer."""
    detector = DtmfDetector(sample_rate)
    return detector.process(pcm) + detector.flush()
