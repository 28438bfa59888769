"""The loop-side view of the on-disk outbox: spooled events waiting for confirms, in order."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable

from callbot.export.events import CALL_ENDED
from callbot.export.metrics import ExportMetrics
from callbot.export.spool import SpoolEntry

log = logging.getLogger(__name__)

SHED_FRACTION = 0.8


class ExportOutbox:
    """FIFO of durable events; the publisher peeks, publishes, then confirms the head."""

    def __init__(
        self,
        *,
        max_bytes: int,
        alarm_records: int,
        metrics: ExportMetrics,
        wall: Callable[[], float],
        ack: Callable[[int], None],
    ) -> None:
        self._max_bytes = max_bytes
        self._alarm_at = alarm_records
        self._alarm_base = alarm_records
        self._metrics = metrics
        self._wall = wall
        self._ack = ack
        self._entries: deque[SpoolEntry] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._writing = 0  # accepted, not yet on disk
        metrics.spool_records.set_function(lambda: len(self._entries) + self._writing)
        metrics.spool_bytes.set_function(lambda: self._bytes)
        metrics.lag.set_function(self.lag)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes

    def admit(self, kind: str) -> str | None:
        """Reserve room for one event, or say why it is dropped (bound reached)."""
        if self._bytes >= self._max_bytes:
            return "spool_full"
        if self._bytes >= self._max_bytes * SHED_FRACTION and kind != CALL_ENDED:
            return "spool_shedding"
        self._writing += 1
        self._empty.clear()
        return None

    def lost(self, count: int) -> None:
        """Admitted events that could not be written."""
        self._writing -= count
        self._metrics.dropped.labels("spool_write").inc(count)
        self._check_empty()

    def add(self, entries: list[SpoolEntry], *, admitted: bool = True) -> None:
        """Events now durable on disk (admitted ones, or recovered at start)."""
        if admitted:
            self._writing -= len(entries)
        self._entries.extend(entries)
        self._bytes += sum(e.size for e in entries)
        if self._entries:
            self._ready.set()
            self._empty.clear()
        self._alarm()
        self._check_empty()

    async def peek(self, limit: int) -> list[SpoolEntry]:
        """The first `limit` events, waiting until there is at least one."""
        while not self._entries:
            self._ready.clear()
            await self._ready.wait()
        return list(itertools.islice(self._entries, limit))

    def confirm(self, entry: SpoolEntry) -> None:
        """The broker confirmed the head event: forget it, let the writer delete it."""
        if not self._entries or self._entries[0] is not entry:
            raise RuntimeError("export outbox: confirms must come in order")
        self._entries.popleft()
        self._bytes -= entry.size
        self._ack(entry.seq)
        self._metrics.delivered.labels("rabbitmq").inc()
        self._metrics.delivery_seconds.observe(max(0.0, self._wall() - entry.created))
        if len(self._entries) < self._alarm_base // 2 and self._alarm_at > self._alarm_base:
            log.info("export spool drained", extra={"records": len(self._entries)})
            self._alarm_at = self._alarm_base
        self._check_empty()

    async def wait_empty(self) -> None:
        await self._empty.wait()

    def lag(self) -> float:
        try:
            head = self._entries[0]
        except IndexError:
            return 0.0
        return max(0.0, self._wall() - head.created)

    def _alarm(self) -> None:
        if len(self._entries) >= self._alarm_at:
            log.warning(
                "export spool growing",
                extra={"records": len(self._entries), "bytes": self._bytes, "lag_s": self.lag()},
            )
            self._alarm_at *= 2

    def _check_empty(self) -> None:
        if not self._entries and self._writing <= 0:
            self._empty.set()
