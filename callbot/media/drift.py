"""Decides when a jitter buffer should shed or add one frame to follow the sender's clock."""

from __future__ import annotations

import collections


class DriftControl:
    """Watches the buffer depth at each pop and asks for one-frame corrections.

    The depth's minimum over each window (about 1 s) is what is left when the
    latest packet is due. Too low for one window: ask to stretch a frame before
    an underrun does it audibly. Too high for `drop_windows` windows in a row:
    ask to merge two frames, so that one calm second after a jitter spike does
    not undo the stretch that absorbed it.
    """

    def __init__(
        self, target: int, frame: int, window_pops: int, force_pops: int, drop_windows: int = 5
    ) -> None:
        self.target = target
        self.frame = frame
        self.window_pops = window_pops
        self.force_pops = force_pops
        self.drop_windows = drop_windows
        self.reset()

    def reset(self) -> None:
        self._low: int | None = None
        self._count = 0
        self._lows: collections.deque[int] = collections.deque(maxlen=self.drop_windows)
        self.pending = 0  # +1: merge two frames into one, -1: stretch one into two
        self._age = 0

    @property
    def forced(self) -> bool:
        """The correction waited long enough for a quiet frame: do it now."""
        return self._age >= self.force_pops

    def observe(self, depth: int) -> None:
        """One pop while playing, with the depth before it."""
        self._low = depth if self._low is None else min(self._low, depth)
        self._count += 1
        self._age += 1
        if self._count < self.window_pops:
            return
        self._lows.append(self._low)
        self._low, self._count = None, 0
        if self.pending:
            return
        if self._lows[-1] < self.target - self.frame:
            self.pending, self._age = -1, 0
        elif len(self._lows) == self.drop_windows and min(self._lows) >= self.target + self.frame:
            self.pending, self._age = 1, 0
