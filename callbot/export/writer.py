"""The export writer thread: redacts, serialises, writes JSONL and the outbox, off the loop.

One thread owns every file the exporters write, so order is kept without
locks and the event loop never waits on a disk. It takes everything queued
at once and fsyncs each file once per batch (group commit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callbot.export.events import ExportEvent
from callbot.export.jsonl import JsonlSink
from callbot.export.spool import DiskSpool, SpoolEntry, SpoolItem

log = logging.getLogger(__name__)

MAX_BATCH = 512
RedactFn = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class _Write:
    event: ExportEvent
    jsonl: bool
    spool: bool
    created: float


@dataclass(frozen=True)
class _Ack:
    seq: int


@dataclass(frozen=True)
class _Barrier:
    done: Callable[[], None]


class _Stop:
    pass


_Op = _Write | _Ack | _Barrier | _Stop


class ExportWriter:
    """Queue in, durable files out; results come back to the loop by callbacks."""

    def __init__(
        self,
        *,
        spool: DiskSpool | None,
        jsonl: JsonlSink | None,
        redact: RedactFn,
        on_spooled: Callable[[list[SpoolEntry]], None],
        on_lost: Callable[[int], None],
    ) -> None:
        self._spool = spool
        self._jsonl = jsonl
        self._redact = redact
        self._on_spooled = on_spooled
        self._on_lost = on_lost
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="callbot-export", daemon=True)
        self._thread.start()

    def write(self, event: ExportEvent, *, jsonl: bool, spool: bool, created: float) -> None:
        """Non-blocking: the event is redacted and written on the writer thread."""
        self._queue.put(_Write(event, jsonl and self._jsonl is not None, spool, created))

    def ack(self, seq: int) -> None:
        self._queue.put(_Ack(seq))

    async def flush(self) -> None:
        """Wait until everything queued before this call is on disk."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        self._queue.put(_Barrier(lambda: self._call(resolve)))
        await done

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(_Stop())
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    # ------------------------------------------------------------ thread

    def _run(self) -> None:
        running = True
        while running:
            ops = [self._queue.get()]
            while len(ops) < MAX_BATCH:
                try:
                    ops.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            running = self._batch(ops)
        if self._jsonl is not None:
            self._jsonl.close()
        if self._spool is not None:
            self._spool.close()

    def _batch(self, ops: list[_Op]) -> bool:
        lines: list[tuple[str, bytes]] = []
        items: list[SpoolItem] = []
        ack = 0
        for op in ops:
            if isinstance(op, _Write):
                try:
                    body = self._redact(op.event.full_body())
                    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                except (TypeError, ValueError):
                    log.exception("export: an event could not be serialised")
                    continue
                if op.jsonl:
                    lines.append((str(body["emitted_at"])[:10], data))
                if op.spool:
                    ev = op.event
                    items.append(SpoolItem(ev.kind, ev.event_id, ev.call_id, op.created, data))
            elif isinstance(op, _Ack):
                ack = max(ack, op.seq)
        self._write_jsonl(lines)
        self._write_spool(items)
        if ack and self._spool is not None:
            try:
                self._spool.ack(ack)
            except OSError:
                log.exception("export spool: could not record confirmed events")
        for op in ops:
            if isinstance(op, _Barrier):
                op.done()
        return not any(isinstance(op, _Stop) for op in ops)

    def _write_jsonl(self, lines: list[tuple[str, bytes]]) -> None:
        if not lines or self._jsonl is None:
            return
        try:
            self._jsonl.write(lines)
        except OSError:
            log.exception("export: JSONL file could not be written", extra={"lost": len(lines)})

    def _write_spool(self, items: list[SpoolItem]) -> None:
        if not items or self._spool is None:
            return
        try:
            entries = self._spool.append(items)
        except OSError:
            log.exception("export spool: events could not be written", extra={"lost": len(items)})
            self._call(lambda: self._on_lost(len(items)))
            return
        self._call(lambda: self._on_spooled(entries))

    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            return
        # RuntimeError: the loop closed under us; the spool keeps the events.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(fn)
