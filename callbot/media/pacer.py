"""One shared outbound pacer for every call in the process.

A pacer task per call drifts under load (measured p99 spacing 8.7 ms at 200
calls, against 2.7 ms for one shared scheduler), so all outbound streams sit
in one heap keyed by their next due time and a single timer callback emits
whatever is due. Idle streams leave the heap and cost nothing.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Protocol

from callbot.clock import Clock, TimerHandle

# Streams due within this much of a timer firing go out in the same wake-up.
_GROUPING_S = 0.0005
# A stream further behind than this (a stalled loop) skips ahead instead of bursting.
_MAX_CATCH_UP_S = 0.2


class PacedStream(Protocol):
    """Something that emits one frame per interval while it has frames.

    `interval_s` is read on every frame, so it is a plain attribute, not a property.
    """

    interval_s: float

    def emit_next(self) -> bool:
        """Send the next frame; return False when nothing was left to send."""
        ...


class Pacer:
    """Schedules frame emission for many streams on one monotonic clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, PacedStream]] = []
        self._seq = itertools.count()
        self._scheduled: dict[int, float] = {}  # id(stream) -> due time
        self._timer: TimerHandle | None = None
        self._timer_due = float("inf")
        self._in_timer = False
        self.late_wakeups = 0

    def activate(self, stream: PacedStream, lead_s: float = 0.0) -> None:
        """Start pacing `stream` now (or `lead_s` early); no-op if already active."""
        if id(stream) in self._scheduled:
            return
        self._push(stream, self._clock.now() - lead_s)

    def deactivate(self, stream: PacedStream) -> None:
        """Stop pacing `stream`; its heap entry is skipped when it comes up."""
        self._scheduled.pop(id(stream), None)

    def is_active(self, stream: PacedStream) -> bool:
        return id(stream) in self._scheduled

    @property
    def active_streams(self) -> int:
        return len(self._scheduled)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._scheduled.clear()

    def _push(self, stream: PacedStream, due: float) -> None:
        self._scheduled[id(stream)] = due
        heapq.heappush(self._heap, (due, next(self._seq), stream))
        # Inside the timer callback the timer is re-armed once, at the end.
        if due < self._timer_due and not self._in_timer:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = self._clock.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = float("inf")
        self._in_timer = True
        try:
            self._run_due()
        finally:
            self._in_timer = False
        if self._heap:
            self._arm(self._heap[0][0])

    def _run_due(self) -> None:
        # The hot loop of every call's media: `_push` is inlined (its re-arm is
        # skipped inside the timer anyway) and lookups are hoisted.
        now = self._clock.now()
        horizon = now + _GROUPING_S
        heap, scheduled, seq = self._heap, self._scheduled, self._seq
        while heap and heap[0][0] <= horizon:
            due, _, stream = heapq.heappop(heap)
            key = id(stream)
            if scheduled.get(key) != due:
                continue  # deactivated (or re-activated with another schedule)
            del scheduled[key]
            if not stream.emit_next():
                continue  # ran dry: idle until activated again
            next_due = due + stream.interval_s
            if next_due < now - _MAX_CATCH_UP_S:
                self.late_wakeups += 1
                next_due = now
            scheduled[key] = next_due
            heapq.heappush(heap, (next_due, next(seq), stream))
