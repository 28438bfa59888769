"""The recent 16 kHz audio of one call, addressed by absolute sample position."""

from __future__ import annotations

import numpy as np

from callbot.stt.whisper import Audio


class AudioBuffer:
    """Chunks kept in arrival order; `trim` forgets what no utterance can need."""

    def __init__(self) -> None:
        self._chunks: list[tuple[int, Audio]] = []

    def append(self, start: int, audio: Audio) -> None:
        if audio.size:
            self._chunks.append((start, audio))

    def trim(self, keep_from: int) -> None:
        """Drop whole chunks that end before `keep_from`."""
        i = 0
        while i < len(self._chunks) and self._chunks[i][0] + self._chunks[i][1].size <= keep_from:
            i += 1
        if i:
            del self._chunks[:i]

    def slice(self, start: int, end: int) -> Audio:
        """Samples [start, end); positions no longer kept come back as zeros."""
        out = np.zeros(max(0, end - start), dtype=np.float32)
        for pos, chunk in self._chunks:
            lo, hi = max(start, pos), min(end, pos + chunk.size)
            if lo < hi:
                out[lo - start : hi - start] = chunk[lo - pos : hi - pos]
        return out
