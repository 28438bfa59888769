"""The demo flow through a real server over RTP at 1x: a turn answered, and /metrics counts it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from callbot.v1 import callbot_pb2 as pb
from tests.grpc_helpers import channel_to, open_call, read_all, read_until, running_server
from tests.integration.conversation.fakes import espeak_caller, silence_ms
from tests.rtp_helpers import send_ulaw_at_1x, udp_peer

pytestmark = pytest.mark.integration


def _metric(body: str, name: str, labels: str) -> float:
    pattern = rf"^{name}\{{{labels}\}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, body, re.M)
    assert found is not None, f"{name}{{{labels}}} not on /metrics"
    return float(found.group(1))


def _story(seen: list[pb.ServerMessage]) -> str:
    kinds = ("bot_speech", "transcript", "barge_in", "speech", "call_ended", "error")
    return "\n".join(f"{m.media_time_ms} {m}".replace("\n", " ") for m in seen
                     if m.WhichOneof("message") in kinds)  # fmt: skip


@contextlib.asynccontextmanager
async def _explained(seen: list[pb.ServerMessage]) -> AsyncIterator[None]:
    try:
        yield
    except TimeoutError:
        raise AssertionError("no answered turn:\n" + _story(seen)) from None


async def test_the_demo_flow_answers_a_caller_over_rtp_and_metrics_count_the_turn(
    tmp_path: Path,
) -> None:
    async with (
        running_server(tmp_path, stt_languages="en", default_flow="lost_card_en") as server,
        channel_to(server) as ch,
    ):
        stream = open_call(ch)
        await stream.write(
            pb.ClientMessage(
                start=pb.CallStart(
                    call_id="conv-1", media_mode=pb.MEDIA_MODE_RTP, codec=pb.CODEC_PCMU,
                    sample_rate_hz=8000, flow="lost_card_en", language="en",
                )
            )
        )  # fmt: skip
        accepted = (await read_until(stream, "accepted"))[-1].accepted
        peer = await udp_peer()
        # The greeting plays first; the caller answers after it, then stays on the line.
        caller = np.concatenate(
            [silence_ms(7000), espeak_caller("My card was stolen."), silence_ms(8000)]
        )
        handles = send_ulaw_at_1x(peer, accepted.local_rtp.port, caller)
        seen: list[pb.ServerMessage] = []
        try:
            async with _explained(seen), asyncio.timeout(40):
                while not any(m.turn_metrics.first_outbound_frame_ms for m in seen):
                    msg = await stream.read()
                    assert msg is not grpc.aio.EOF, _story(seen)  # type: ignore[attr-defined]
                    seen.append(msg)
            body = (
                urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics")
                .read()
                .decode()
            )
        finally:
            for h in handles:
                h.cancel()
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            seen += await read_all(stream)
            peer.close()
    finals = [m.transcript.text for m in seen if m.transcript.is_final]
    assert any("stolen" in t.lower() for t in finals), finals
    lines = [m.bot_speech.text for m in seen if m.bot_speech.state == pb.BOT_SPEECH_STATE_STARTED]
    assert any("four digits" in line for line in lines), lines
    assert len(peer.rtp()) > 100, "the bot's audio came back over RTP"
    assert seen[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
    assert _metric(body, "callbot_turn_latency_seconds_count", 'stage="voice_to_voice"') >= 1
    assert _metric(body, "callbot_turn_latency_seconds_count", 'stage="transcript"') >= 1
    assert _metric(body, "callbot_work_jobs_total", 'lane="final"') >= 1
    assert _metric(body, "callbot_work_queue_depth", 'lane="partial"') >= 0
    assert _metric(body, "callbot_calls_active", "") == 1.0
