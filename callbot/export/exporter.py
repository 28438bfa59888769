"""The Exporter facade: call events → redaction → JSONL files and the RabbitMQ outbox.

Nothing here blocks the caller: `publish()` queues the event for the writer
thread, which redacts, serialises and fsyncs it; the publisher task sends the
outbox to the broker in order and deletes an event only once it is confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from callbot.clock import Clock
from callbot.export import events as ev
from callbot.export.config import ExportSettings
from callbot.export.events import ExportEvent
from callbot.export.jsonl import JsonlSink
from callbot.export.metrics import ExportMetrics
from callbot.export.outbox import ExportOutbox
from callbot.export.rabbitmq import RabbitPublisher
from callbot.export.redaction import mask_dtmf_runs, redact_body
from callbot.export.spool import DiskSpool
from callbot.export.writer import ExportWriter
from callbot.record import CallRecord, TurnRecord
from callbot.redact import Redactor

log = logging.getLogger(__name__)


class Exporter:
    """`start()`, then `call_started` / `turn_final` / `call_ended` (or `publish`), `aclose()`."""

    def __init__(
        self,
        settings: ExportSettings,
        *,
        clock: Clock,
        metrics: ExportMetrics | None = None,
        redactor: Redactor | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.redactor = redactor or Redactor(settings.redact_kinds)
        self.metrics = metrics or ExportMetrics()
        self._clock = clock
        self._rng = rng
        self._seqs: dict[str, int] = {}
        self._held: dict[str, list[ExportEvent]] = {}
        self._writer: ExportWriter | None = None
        self._outbox: ExportOutbox | None = None
        self._publisher: RabbitPublisher | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._drops_logged = 0

    @classmethod
    def from_settings(
        cls, settings: Any, *, clock: Clock, registry: CollectorRegistry | None = None
    ) -> Exporter:
        """From `callbot.config.Settings`; metrics go on `registry` (the service's)."""
        return cls(
            ExportSettings.from_settings(settings), clock=clock, metrics=ExportMetrics(registry)
        )

    @property
    def enabled(self) -> bool:
        s = self.settings
        return bool((s.jsonl_dir and s.jsonl_events) or (s.rabbitmq_url and s.rabbitmq_events))

    @property
    def spooled(self) -> int:
        """Events on disk waiting for the broker's confirm."""
        return len(self._outbox) if self._outbox is not None else 0

    async def start(self) -> None:
        """Recover the outbox (events a previous run left), start the writer and publisher."""
        if self._started or not self.enabled:
            self._started = True
            return
        s = self.settings
        spool: DiskSpool | None = None
        if s.rabbitmq_url and s.rabbitmq_events:
            spool = DiskSpool(s.spool_dir)
            recovered = await asyncio.to_thread(spool.open)
            self._outbox = ExportOutbox(
                max_bytes=s.spool_max_bytes,
                alarm_records=s.spool_alarm_records,
                metrics=self.metrics,
                wall=lambda: self._clock.wall().timestamp(),
                ack=self._writer_ack,
            )
            self._outbox.add(recovered, admitted=False)
            if recovered:
                log.info("export spool recovered", extra={"records": len(recovered)})
            self._publisher = RabbitPublisher(
                s.rabbitmq_url,
                s.rabbitmq_exchange,
                outbox=self._outbox,
                clock=self._clock,
                metrics=self.metrics,
                queue=s.rabbitmq_queue,
                retry_max_s=s.retry_max_s,
                rng=self._rng,
            )
        outbox = self._outbox
        self._writer = ExportWriter(
            spool=spool,
            jsonl=JsonlSink(s.jsonl_dir) if s.jsonl_dir and s.jsonl_events else None,
            redact=lambda body: redact_body(self.redactor, body),
            on_spooled=outbox.add if outbox is not None else lambda _: None,
            on_lost=outbox.lost if outbox is not None else lambda _: None,
        )
        self._writer.start()
        if self._publisher is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._publisher.run(), name="callbot-export-publisher"
            )
        self._started = True

    # ------------------------------------------------------------ events

    def call_started(self, record: CallRecord) -> None:
        self.publish(ev.call_started(record, self._next_seq(record.call_id), self._clock.wall()))

    def turn_final(self, record: CallRecord, turn: TurnRecord) -> None:
        """A turn was appended to `record.turns` (speech final, bot utterance, DTMF key)."""
        index = next((i for i, t in enumerate(reversed(record.turns)) if t is turn), None)
        position = len(record.turns) - 1 - index if index is not None else len(record.turns)
        seq = self._next_seq(record.call_id)
        self.publish(ev.turn_final(record, turn, position, seq, self._clock.wall()))

    def call_ended(self, record: CallRecord) -> None:
        """After `record.finish()`: the full record; the call's sequence is forgotten."""
        self.publish(ev.call_ended(record, self._next_seq(record.call_id), self._clock.wall()))
        self._seqs.pop(record.call_id, None)

    def publish(self, event: ExportEvent) -> None:
        """Non-blocking; never raises for a full outbox or a missing broker (counted instead)."""
        if not self.enabled:
            return
        if self._closed or not self._started:
            self._drop("closed" if self._closed else "not_started")
            return
        turn = event.body.get("turn")
        is_key = isinstance(turn, dict) and turn.get("kind") == "dtmf"
        if event.kind == ev.TURN_FINAL and is_key and self.redactor.enabled:
            # Keys of a card number arrive one a turn: hold them until the run ends.
            self._held.setdefault(event.call_id, []).append(event)
            return
        self._release(event.call_id)
        self._submit(event)

    # ---------------------------------------------------------- shutdown

    async def aclose(self, timeout_s: float | None = None) -> bool:
        """Flush to disk and to the broker within the deadline; True if nothing is left."""
        if not self._started or self._closed:
            self._closed = True
            return True
        for call_id in list(self._held):
            self._release(call_id)
        self._closed = True
        timeout = self.settings.flush_timeout_s if timeout_s is None else timeout_s
        deadline = self._clock.now() + timeout
        drained = True
        if self._writer is not None:
            drained = await self._within(self._writer.flush(), deadline)
        if drained and self._outbox is not None:
            drained = await self._within(self._outbox.wait_empty(), deadline)
        if not drained:
            log.warning("export flush timed out", extra={"spooled": self.spooled})
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._publisher is not None:
            await self._publisher.aclose()
        if self._writer is not None:
            await self._writer.stop()
        return drained

    # ---------------------------------------------------------- internal

    def _next_seq(self, call_id: str) -> int:
        seq = self._seqs.get(call_id, 0)
        self._seqs[call_id] = seq + 1
        return seq

    def _release(self, call_id: str) -> None:
        held = self._held.pop(call_id, None)
        if not held:
            return
        mask_dtmf_runs(self.redactor, [e.body["turn"] for e in held])
        for event in held:
            self._submit(event)

    def _submit(self, event: ExportEvent) -> None:
        s = self.settings
        jsonl = event.kind in s.jsonl_events
        spool = self._outbox is not None and event.kind in s.rabbitmq_events
        if spool and self._outbox is not None:
            refused = self._outbox.admit(event.kind)
            if refused is not None:
                spool = False
                self._drop(refused)
        if (jsonl or spool) and self._writer is not None:
            created = self._clock.wall().timestamp()
            self._writer.write(event, jsonl=jsonl, spool=spool, created=created)

    def _writer_ack(self, seq: int) -> None:
        if self._writer is not None:
            self._writer.ack(seq)

    def _drop(self, cause: str) -> None:
        self.metrics.dropped.labels(cause).inc()
        self._drops_logged += 1
        if self._drops_logged == 1 or self._drops_logged % 1000 == 0:
            log.error("export event dropped", extra={"cause": cause, "drops": self._drops_logged})

    async def _within(self, awaitable: Awaitable[None], deadline: float) -> bool:
        """Await until the injected clock reaches `deadline`; False if it did first."""
        work = asyncio.ensure_future(awaitable)
        timer = asyncio.ensure_future(self._clock.sleep(max(0.0, deadline - self._clock.now())))
        try:
            await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, timer):
                task.cancel()
            await asyncio.gather(work, timer, return_exceptions=True)
        return work.done() and not work.cancelled() and work.exception() is None
