"""The built-in echo media loop: the caller's audio comes back after a delay."""

from __future__ import annotations

import numpy as np

from callbot.media.g711 import Pcm


class EchoLoop:
    """A delay line: every sample in comes out `delay_samples` later.

    Like Asterisk's echo test, the first `delay_samples` out are silence, so
    output sample i equals input sample i - delay. A ring buffer keeps the
    per-frame cost independent of the delay (this runs for every frame of
    every echo call).
    """

    def __init__(self, delay_samples: int) -> None:
        if delay_samples < 0:
            raise ValueError(f"echo delay must be >= 0 samples, got {delay_samples}")
        self._delay = delay_samples
        self._ring = np.zeros(max(delay_samples, 1), dtype=np.int16)
        self._pos = 0  # oldest sample = next out

    def process(self, pcm: Pcm) -> Pcm:
        """Feed `pcm`; return the same number of samples from `delay` ago."""
        if self._delay == 0:
            return pcm
        n = pcm.size
        if n > self._delay:
            # Longer than the line: the head comes from the line, the rest from pcm itself.
            head = self.process(pcm[: self._delay])
            tail = self.process(pcm[self._delay :])
            return np.concatenate((head, tail))
        out = np.empty(n, dtype=np.int16)
        first = min(n, self._delay - self._pos)
        out[:first] = self._ring[self._pos : self._pos + first]
        self._ring[self._pos : self._pos + first] = pcm[:first]
        if first < n:
            out[first:] = self._ring[: n - first]
            self._ring[: n - first] = pcm[first:]
        self._pos = (self._pos + n) % self._delay
        return out

    def clear(self) -> None:
        """Forget what is in the line (hold, clear): nothing old comes back."""
        self._ring[:] = 0
