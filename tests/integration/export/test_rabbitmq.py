"""The RabbitMQ exporter against the real broker: keys, schema, outage, SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aio_pika
import pytest

from callbot.clock import LoopClock
from callbot.export.exporter import Exporter
from callbot.export.schema import errors
from callbot.record import TurnRecord
from tests.integration.export.broker import (
    URL,
    bodies,
    bound_queue,
    broker_ctl,
    drain,
    require_broker,
)
from tests.unit.export.helpers import export_settings, finish, make_record

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _call(exporter: Exporter, call_id: str, turns: int = 3) -> int:
    record = make_record(call_id)
    exporter.call_started(record)
    for i in range(turns):
        turn = TurnRecord("caller", "speech", i * 1000, i * 1000 + 900, text=f"turn {i}")
        record.turns.append(turn)
        exporter.turn_final(record, turn)
    exporter.call_ended(finish(record))
    return turns + 2


def _check_per_call_order(events: list[dict[str, object]], calls: list[str], per_call: int) -> None:
    for call_id in calls:
        seqs = [e["seq"] for e in events if e["call_id"] == call_id]
        assert seqs == list(range(per_call)), (call_id, seqs)


async def test_events_arrive_on_their_keys_and_validate(tmp_path: Path) -> None:
    await require_broker()
    async with (
        bound_queue(("call.started",)) as started_q,
        bound_queue(("turn.final",)) as turn_q,
        bound_queue(("call.ended",)) as ended_q,
    ):
        exporter = Exporter(export_settings(tmp_path, export_rabbitmq_url=URL), clock=LoopClock())
        await exporter.start()
        _call(exporter, "keys-1", turns=2)
        assert await exporter.aclose(timeout_s=20)
        started, turns, ended = (
            await drain(started_q, 1),
            await drain(turn_q, 2),
            await drain(ended_q, 1),
        )
    assert [m.routing_key for m in started + turns + ended] == ["call.started"] + [
        "turn.final"
    ] * 2 + ["call.ended"]
    for message in started + turns + ended:
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        body = bodies([message])[0]
        assert body["event_id"] == message.message_id and body["event"] == message.type
        assert errors(body) == []
    assert exporter.spooled == 0 and list((tmp_path / "spool").glob("seg-*.log")) == []


async def test_a_broker_outage_loses_nothing_and_keeps_order(tmp_path: Path) -> None:
    await require_broker()
    async with bound_queue() as queue:
        exporter = Exporter(
            export_settings(tmp_path, export_rabbitmq_url=URL, export_retry_max_s=1.0),
            clock=LoopClock(),
        )
        await exporter.start()
        calls = [f"outage-{i}" for i in range(20)]
        try:
            for call_id in calls[:7]:
                _call(exporter, call_id)
            stopping = asyncio.ensure_future(broker_ctl("stop_app"))
            for call_id in calls[7:14]:  # while the broker goes down
                _call(exporter, call_id)
                await asyncio.sleep(0.05)
            await stopping
            for call_id in calls[14:]:  # while it is down
                _call(exporter, call_id)
            await asyncio.sleep(0.5)
            assert exporter.spooled > 0
        finally:
            await broker_ctl("start_app")
        assert await exporter.aclose(timeout_s=40)
        messages = await drain(queue, 100)
    events = bodies(messages)
    assert len(events) == 100 and len(messages) >= 100
    _check_per_call_order(events, calls, 5)
    assert all(errors(e) == [] for e in events)


SPOOLER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from callbot.clock import LoopClock
from callbot.export.exporter import Exporter
from tests.integration.export.test_rabbitmq import _call
from tests.unit.export.helpers import export_settings

async def main():
    settings = export_settings(Path({tmp!r}), export_rabbitmq_url="amqp://guest:guest@127.0.0.1:1/")
    exporter = Exporter(settings, clock=LoopClock())
    await exporter.start()
    for i in range(5):
        _call(exporter, f"killed-{{i}}")
    await exporter._writer.flush()
    print("SPOOLED", exporter.spooled, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_events_spooled_by_a_killed_process_are_delivered_after_restart(
    tmp_path: Path,
) -> None:
    await require_broker()
    script = SPOOLER.format(root=str(ROOT), tmp=str(tmp_path))
    proc = subprocess.Popen(  # noqa: ASYNC220 (the test kills it; nothing to await)
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)  # type: ignore[union-attr]
        assert line.split() == ["SPOOLED", "25"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert list((tmp_path / "spool").glob("seg-*.log"))
    async with bound_queue() as queue:
        exporter = Exporter(export_settings(tmp_path, export_rabbitmq_url=URL), clock=LoopClock())
        await exporter.start()
        assert exporter.spooled == 25
        assert await exporter.aclose(timeout_s=20)
        events = bodies(await drain(queue, 25))
    assert len(events) == 25
    _check_per_call_order(events, [f"killed-{i}" for i in range(5)], 5)
