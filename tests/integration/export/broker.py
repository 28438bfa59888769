"""Helpers for tests against the real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import pytest

URL = "amqp://guest:guest@127.0.0.1:5672/"
EXCHANGE = "callbot.events"


async def require_broker() -> None:
    try:
        connection = await aio_pika.connect(URL, timeout=3)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    await connection.close()


def rabbitmqctl(command: str) -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    subprocess.run(["rabbitmqctl", command], check=True, capture_output=True, timeout=60)


async def broker_ctl(command: str) -> None:
    await asyncio.to_thread(rabbitmqctl, command)


@asynccontextmanager
async def bound_queue(keys: tuple[str, ...] = ("#",)) -> AsyncIterator[str]:
    """A durable queue bound to the exchange (it survives stop_app); deleted at the end."""
    name = f"callbot-test-{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(name, durable=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
    try:
        yield name
    finally:
        connection = await aio_pika.connect(URL, timeout=30)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)


async def drain(
    name: str, expect: int, timeout_s: float = 30.0
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take messages until `expect` distinct message ids arrived, then a short quiet period."""
    got: list[aio_pika.abc.AbstractIncomingMessage] = []
    ids: set[str | None] = set()
    connection = await aio_pika.connect(URL, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(name)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        quiet_until = None
        while loop.time() < deadline:
            message = await queue.get(fail=False, no_ack=True)
            if message is None:
                if len(ids) >= expect:
                    quiet_until = quiet_until or loop.time() + 0.3
                    if loop.time() > quiet_until:
                        break
                await asyncio.sleep(0.02)
                continue
            got.append(message)
            ids.add(message.message_id)
    return got


def bodies(messages: list[aio_pika.abc.AbstractIncomingMessage]) -> list[dict[str, Any]]:
    """De-duplicated by message id (first copy kept), in arrival order."""
    seen: set[str | None] = set()
    out = []
    for m in messages:
        if m.message_id in seen:
            continue
        seen.add(m.message_id)
        out.append(json.loads(m.body))
    return out
