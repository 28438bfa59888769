"""The built-in echo media loop: the caller's audio comes back after a delay."""

from __future__ import annotations

from collections import deque

import numpy as np

from callbot.media.g711 import Pcm


class EchoLoop:
    """A delay line: every sample in comes out `delay_samples` later.

    Like Asterisk's echo test, the first `delay_samples` out are silence, so
    output sample i equals input sample i - delay. The line holds the chunks
    themselves (PCM frames are never written after they are handed on), so with
    frames of one size, the case of every echo call, a frame in returns the
    frame from `delay` ago without touching a sample.
    """

    def __init__(self, delay_samples: int) -> None:
        if delay_samples < 0:
            raise ValueError(f"echo delay must be >= 0 samples, got {delay_samples}")
        self._delay = delay_samples
        self._line: deque[Pcm] = deque()
        self.clear()

    def process(self, pcm: Pcm) -> Pcm:
        """Feed `pcm`; return the same number of samples from `delay` ago."""
        if self._delay == 0 or not pcm.size:
            return pcm
        line = self._line
        line.append(pcm)
        need = pcm.size
        if line[0].size == need:
            return line.popleft()
        parts = []
        while need:
            head = line[0]
            if head.size <= need:
                parts.append(line.popleft())
                need -= head.size
            else:
                parts.append(head[:need])
                line[0] = head[need:]
                need = 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def clear(self) -> None:
        """Forget what is in the line (hold, clear): nothing old comes back."""
        self._line.clear()
        if self._delay:
            self._line.append(np.zeros(self._delay, dtype=np.int16))
