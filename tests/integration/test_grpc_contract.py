"""Contract rules, admission, auth, health and metrics through a real server."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

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

pytestmark = pytest.mark.integration

SILENCE = g711.ulaw_encode(np.zeros(160, dtype=np.int16))


async def _expect_refusal(
    stream: object, code: int, status: grpc.StatusCode, text: str
) -> pb.ServerMessage:
    msgs = await read_all(stream)
    errors = [m for m in msgs if m.WhichOneof("message") == "error"]
    assert errors, msgs
    assert errors[0].error.code == code
    assert text in errors[0].error.message
    assert await stream.code() == status  # type: ignore[attr-defined]
    return errors[0]


async def test_audio_before_start_is_refused(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=SILENCE)))
        await _expect_refusal(
            stream,
            pb.ERROR_CODE_START_REQUIRED,
            grpc.StatusCode.FAILED_PRECONDITION,
            "first message",
        )


async def test_unsupported_codec_and_rate(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(codec=42))
        await _expect_refusal(
            stream, pb.ERROR_CODE_UNSUPPORTED_CODEC, grpc.StatusCode.INVALID_ARGUMENT, "codec"
        )
        stream = open_call(ch)
        await stream.write(start_message(codec=pb.CODEC_PCMA, sample_rate_hz=16000))
        await _expect_refusal(
            stream,
            pb.ERROR_CODE_UNSUPPORTED_SAMPLE_RATE,
            grpc.StatusCode.INVALID_ARGUMENT,
            "16000",
        )


async def test_second_start_and_oversized_chunk_end_the_call(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(call_id="dup"))
        await read_until(stream, "accepted")
        await stream.write(start_message(call_id="dup"))
        err = await _expect_refusal(
            stream,
            pb.ERROR_CODE_DUPLICATE_START,
            grpc.StatusCode.FAILED_PRECONDITION,
            "exactly one start",
        )
        assert err.error.fatal
        stream = open_call(ch)
        await stream.write(start_message(call_id="big"))
        await read_until(stream, "accepted")
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=b"\xff" * 65537)))
        await _expect_refusal(
            stream, pb.ERROR_CODE_CHUNK_TOO_LARGE, grpc.StatusCode.INVALID_ARGUMENT, "65537"
        )
        stream = open_call(ch)
        await stream.write(start_message(call_id="odd", codec=pb.CODEC_L16))
        await read_until(stream, "accepted")
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=b"\x00" * 321)))
        await _expect_refusal(
            stream, pb.ERROR_CODE_BAD_AUDIO, grpc.StatusCode.INVALID_ARGUMENT, "whole number"
        )


async def test_non_fatal_errors_keep_the_call(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(call_id="nf"))
        await read_until(stream, "accepted")
        await stream.write(pb.ClientMessage(dtmf=pb.Dtmf(digit="x")))
        err = (await read_until(stream, "error"))[-1]
        assert not err.error.fatal and err.error.code == pb.ERROR_CODE_INVALID_ARGUMENT
        await stream.write(pb.ClientMessage(playback_mark=pb.PlaybackMark(mark_id="a999")))
        err = (await read_until(stream, "error"))[-1]
        assert err.error.code == pb.ERROR_CODE_UNKNOWN_MARK
        await stream.write(
            pb.ClientMessage(
                media_update=pb.MediaUpdate(remote_rtp=pb.RtpAddress(host="h", port=1))
            )
        )
        err = (await read_until(stream, "error"))[-1]
        assert err.error.code == pb.ERROR_CODE_WRONG_MEDIA_MODE
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=SILENCE)))
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        rest = await read_all(stream)
        assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
        assert await stream.code() == grpc.StatusCode.OK


async def test_admission_refuses_above_max_calls(tmp_path: Path) -> None:
    async with running_server(tmp_path, max_calls=2) as server, channel_to(server) as ch:
        live = []
        for i in range(2):
            s = open_call(ch)
            await s.write(start_message(call_id=f"adm-{i}"))
            await read_until(s, "accepted")
            live.append(s)
        extra = open_call(ch)
        await extra.write(start_message(call_id="adm-x"))
        await _expect_refusal(
            extra,
            pb.ERROR_CODE_RESOURCE_EXHAUSTED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "capacity",
        )
        for s in live:
            await s.write(pb.ClientMessage(hangup=pb.Hangup()))
            await read_all(s)
        # Capacity is back once the calls ended.
        again = open_call(ch)
        await again.write(start_message(call_id="adm-again"))
        await read_until(again, "accepted")
        await again.write(pb.ClientMessage(hangup=pb.Hangup()))
        await read_all(again)
        body = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics").read()
        text = body.decode()
        assert 'callbot_calls_rejected_total{cause="capacity"} 1.0' in text
        assert 'callbot_calls_total{reason="caller_hangup"} 3.0' in text
        assert "callbot_calls_active 0.0" in text


async def test_bearer_token(tmp_path: Path) -> None:
    async with running_server(tmp_path, auth_token="s3cret") as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message())
        await _expect_refusal(
            stream, pb.ERROR_CODE_UNAUTHENTICATED, grpc.StatusCode.UNAUTHENTICATED, "token"
        )
        stream = open_call(ch, authorization="Bearer s3cret")
        await stream.write(start_message(call_id="authed"))
        await read_until(stream, "accepted")
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        await read_all(stream)


async def test_health_and_reflection(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        resp = await health.Check(health_pb2.HealthCheckRequest(service="callbot.v1.Callbot"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        call = refl.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        reply = await call.read()
        names = {s.name for s in reply.list_services_response.service}
        assert "callbot.v1.Callbot" in names and "grpc.health.v1.Health" in names
        await call.done_writing()
        assert server.sessions is not None
        server.sessions.draining = True
        stream = open_call(ch)
        await stream.write(start_message())
        await _expect_refusal(
            stream, pb.ERROR_CODE_UNAVAILABLE, grpc.StatusCode.UNAVAILABLE, "draining"
        )


async def test_slow_consumer_is_cut_off_without_hurting_others(tmp_path: Path) -> None:
    # A huge playout lead makes the echo reply as fast as audio arrives; a client
    # window without BDP growth (64 KiB) fills up once the slow client stops reading.
    async with (
        running_server(
            tmp_path,
            echo_delay_ms=0,
            outbox_max_messages=50,
            slow_consumer_timeout_s=1.0,
            grpc_playout_lead_ms=600_000,
        ) as server,
        grpc.aio.insecure_channel(
            f"127.0.0.1:{server.port}", options=[("grpc.http2.bdp_probe", 0)]
        ) as ch,
    ):
        slow = open_call(ch)
        await slow.write(start_message(call_id="slow"))
        await read_until(slow, "accepted")
        good = open_call(ch)
        await good.write(start_message(call_id="good"))
        await read_until(good, "accepted")
        # The slow client writes audio (the echo produces replies) but never reads them.
        for _ in range(400):
            await slow.write(pb.ClientMessage(audio=pb.AudioChunk(audio=SILENCE * 25)))
        async with asyncio.timeout(10):
            while server.sessions is not None and server.sessions.active > 1:
                await asyncio.sleep(0.05)
        await good.write(pb.ClientMessage(audio=pb.AudioChunk(audio=SILENCE)))
        await good.write(pb.ClientMessage(hangup=pb.Hangup()))
        rest = await read_all(good)
        assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
        slow.cancel()
    import json

    records = [
        json.loads(line)
        for f in (tmp_path / "records").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert {r["call_id"]: r["end_reason"] for r in records}["slow"] == "slow_consumer"
