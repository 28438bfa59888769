"""RabbitMQ publisher: outbox head → durable topic exchange, publisher confirms, reconnects."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange

from callbot.clock import Clock
from callbot.export.metrics import ExportMetrics
from callbot.export.outbox import ExportOutbox
from callbot.export.spool import SpoolEntry

log = logging.getLogger(__name__)

WINDOW = 64  # publishes awaiting confirms at once; the channel lock keeps their order
PUBLISH_TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 5.0
BACKOFF_START_S = 0.2
_ERRORS = (*aio_pika.exceptions.CONNECTION_EXCEPTIONS, TimeoutError, aio_pika.exceptions.AMQPError)


def backoff_delays(
    start_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> Callable[[], float]:
    """Exponential backoff with full jitter in [d/2, d]; reset by making a new one."""
    delay = start_s

    def next_delay() -> float:
        nonlocal delay
        current = min(delay, max_s)
        delay = min(delay * 2, max_s)
        return current * (0.5 + rng() / 2)

    return next_delay


class RabbitPublisher:
    """Publishes the outbox in order; an event leaves the outbox only when confirmed."""

    def __init__(
        self,
        url: str,
        exchange: str,
        *,
        outbox: ExportOutbox,
        clock: Clock,
        metrics: ExportMetrics,
        queue: str = "",
        retry_max_s: float = 30.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._queue = queue
        self._outbox = outbox
        self._clock = clock
        self._metrics = metrics
        self._retry_max_s = retry_max_s
        self._rng = rng
        self._connection: AbstractConnection | None = None

    async def run(self) -> None:
        """Forever: connect, publish what the outbox holds, back off on failure."""
        delays = backoff_delays(BACKOFF_START_S, self._retry_max_s, self._rng)
        while True:
            await self._outbox.peek(1)  # connect only when there is something to send
            try:
                exchange = await self._connect()
                delays = backoff_delays(BACKOFF_START_S, self._retry_max_s, self._rng)
                await self._publish_forever(exchange)
            except _ERRORS as exc:
                _reraise_cancel()
                self._metrics.reconnects.inc()
                log.warning(
                    "export broker unavailable, retrying",
                    extra={"error": type(exc).__name__, "spooled": len(self._outbox)},
                )
            except Exception:  # a bug must not stop delivery for good
                _reraise_cancel()
                self._metrics.reconnects.inc()
                log.exception("export publisher failed, retrying")
            finally:
                self._metrics.broker_up.set(0)
                await self._disconnect()
            await self._clock.sleep(delays())

    async def _connect(self) -> AbstractExchange:
        connection = await aio_pika.connect(
            self._url, timeout=CONNECT_TIMEOUT_S, client_properties={"connection_name": "callbot"}
        )
        self._connection = connection
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        if self._queue:
            queue = await channel.declare_queue(self._queue, durable=True)
            for pattern in ("call.#", "turn.#"):
                await queue.bind(exchange, routing_key=pattern)
        self._metrics.broker_up.set(1)
        log.info("export broker connected")
        return exchange

    async def _publish_forever(self, exchange: AbstractExchange) -> None:
        while True:
            batch = await self._outbox.peek(WINDOW)
            # Tasks start in order and queue on the channel's FIFO lock: the broker
            # gets them in outbox order; confirms are consumed in the same order.
            tasks = [
                asyncio.ensure_future(
                    exchange.publish(
                        _message(entry), entry.key, mandatory=False, timeout=PUBLISH_TIMEOUT_S
                    )
                )
                for entry in batch
            ]
            try:
                for entry, task in zip(batch, tasks, strict=True):
                    await task
                    self._outbox.confirm(entry)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_S)
            except (*_ERRORS, RuntimeError):
                pass  # already broken: nothing more to release

    async def aclose(self) -> None:
        await self._disconnect()


def _reraise_cancel() -> None:
    """aiormq can turn a cancelled connect into a connection error: keep the cancel."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _message(entry: SpoolEntry) -> aio_pika.Message:
    return aio_pika.Message(
        entry.body,
        message_id=entry.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        content_encoding="utf-8",
        type=entry.key,
        timestamp=datetime.fromtimestamp(entry.created, UTC),
        app_id="callbot",
        headers={"call_id": entry.call_id, "schema": "callbot.call_event", "schema_version": 1},
    )
