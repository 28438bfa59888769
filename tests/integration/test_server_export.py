"""A real server exports its calls to RabbitMQ and JSONL, with personal data redacted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from callbot.export.schema import errors as schema_errors
from callbot.media import g711
from callbot.v1 import callbot_pb2 as pb
from tests.grpc_helpers import (
    channel_to,
    open_call,
    read_all,
    read_until,
    running_server,
    start_message,
)
from tests.integration.export.broker import URL, bodies, bound_queue, drain, require_broker

pytestmark = pytest.mark.integration

CARD = "4532015112830366"  # Luhn-valid test number


async def test_calls_reach_rabbitmq_and_jsonl_without_the_card_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await require_broker()
    caplog.set_level(logging.DEBUG)
    silence = g711.ulaw_encode(np.zeros(160, dtype=np.int16))
    async with bound_queue() as queue:
        async with (
            running_server(
                tmp_path,
                export_rabbitmq_url=URL,
                export_jsonl_dir=str(tmp_path / "export"),
                export_spool_dir=str(tmp_path / "spool"),
            ) as server,
            channel_to(server) as ch,
        ):
            stream = open_call(ch)
            await stream.write(
                start_message(call_id="exp-1", caller_metadata={"note": f"card {CARD}"})
            )
            await read_until(stream, "accepted")
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=silence)))
            for digit in CARD:
                await stream.write(pb.ClientMessage(dtmf=pb.Dtmf(digit=digit, duration_ms=80)))
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            await read_all(stream)
        messages = await drain(queue, expect=2 + len(CARD))
    events = bodies(messages)
    keys = [m.routing_key for m in messages]
    assert keys[0] == "call.started" and keys[-1] == "call.ended"
    assert "turn.final" in keys
    for event in events:
        assert schema_errors(event) == [], event
    ended = events[-1]
    assert ended["record"]["call_id"] == "exp-1"
    exported = json.dumps(events) + "".join(
        p.read_text() for p in (tmp_path / "export").rglob("*.jsonl")
    )
    records = "".join(p.read_text() for p in (tmp_path / "records").rglob("*.jsonl"))
    logs = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for where in (exported, records, logs):
        assert CARD not in where
        assert CARD not in where.replace('","', "").replace('"', "")
