"""The built-in echo media loop: the caller's audio comes back after a delay."""

from __future__ import annotations

import numpy as np

from callbot.media.g711 import Pcm


class EchoLoop:
    """A delay line: every sample in comes out `delay_samples` later.

    Like Asterisk's echo test, the first `delay_samples` out are silence, so
    output sample i equals input sample i - delay.
    """

    def __init__(self, delay_samples: int) -> None:
        if delay_samples < 0:
            raise ValueError(f"echo delay must be >= 0 samples, got {delay_samples}")
        self._delay = delay_samples
        self._line = np.zeros(delay_samples, dtype=np.int16)

    def process(self, pcm: Pcm) -> Pcm:
        """Feed `pcm`; return the same number of samples from `delay` ago."""
        if self._delay == 0:
            return pcm
        data = np.concatenate((self._line, pcm))
        out, self._line = data[: pcm.size], data[pcm.size :]
        return out

    def clear(self) -> None:
        """Forget what is in the line (hold, clear): nothing old comes back."""
        self._line = np.zeros(self._delay, dtype=np.int16)
