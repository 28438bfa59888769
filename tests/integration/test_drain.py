"""SIGTERM drains: health goes NOT_SERVING, new calls are refused, live calls finish."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from callbot.media import g711
from callbot.v1 import callbot_pb2 as pb
from tests.grpc_helpers import open_call, read_all, read_until, start_message

pytestmark = pytest.mark.integration

SILENCE = g711.ulaw_encode(np.zeros(160, dtype=np.int16))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_service(tmp_path: Path, drain_s: float) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        CALLBOT_GRPC_ADDRESS=f"127.0.0.1:{port}",
        CALLBOT_METRICS_ADDRESS="",
        CALLBOT_RECORDS_DIR=str(tmp_path / "records"),
        CALLBOT_DRAIN_TIMEOUT_S=str(drain_s),
        CALLBOT_STT_LANGUAGES="",
        CALLBOT_DEFAULT_FLOW="echo",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callbot.cli", "serve", env=env, stderr=asyncio.subprocess.PIPE
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        async with asyncio.timeout(30):
            while True:
                try:
                    resp = await health.Check(health_pb2.HealthCheckRequest())
                    if resp.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.1)
    return proc, port


async def _health(ch: grpc.aio.Channel) -> int:
    resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
    return int(resp.status)


async def test_sigterm_lets_live_calls_finish_then_exits_0(tmp_path: Path) -> None:
    proc, port = await _start_service(tmp_path, drain_s=30)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        live = open_call(ch)
        await live.write(start_message(call_id="live"))
        await read_until(live, "accepted")
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            while await _health(ch) != health_pb2.HealthCheckResponse.NOT_SERVING:
                await asyncio.sleep(0.05)
        refused = open_call(ch)
        await refused.write(start_message(call_id="late"))
        await read_all(refused)
        assert await refused.code() == grpc.StatusCode.UNAVAILABLE
        # The live call still works while the instance drains.
        await live.write(pb.ClientMessage(audio=pb.AudioChunk(audio=SILENCE)))
        await live.write(pb.ClientMessage(hangup=pb.Hangup()))
        rest = await read_all(live)
        assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert proc.stderr is not None
    logs = [json.loads(line) for line in (await proc.stderr.read()).decode().splitlines()]
    assert any(e["msg"] == "draining" for e in logs)
    assert all(e["level"] != "error" for e in logs)
    assert any(e.get("call_id") == "live" and e["msg"] == "call ended" for e in logs)


async def test_drain_limit_ends_remaining_calls(tmp_path: Path) -> None:
    proc, port = await _start_service(tmp_path, drain_s=0.5)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        live = open_call(ch)
        await live.write(start_message(call_id="stuck"))
        await read_until(live, "accepted")
        proc.send_signal(signal.SIGTERM)
        rest = await read_all(live, timeout=15)
        assert rest[-1].call_ended.reason == pb.END_REASON_SERVER_SHUTDOWN
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    record = json.loads(next((tmp_path / "records").glob("*.jsonl")).read_text())
    assert record["call_id"] == "stuck" and record["end_reason"] == "server_shutdown"
