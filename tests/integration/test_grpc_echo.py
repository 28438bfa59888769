"""The echo loop over GRPC media, through a real server, with a real clip."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import grpc
import numpy as np
import pytest

from callbot.media import g711
from callbot.v1 import callbot_pb2 as pb
from tests.conftest import speech_dir
from tests.grpc_helpers import (
    channel_to,
    load_wav,
    open_call,
    read_all,
    read_until,
    running_server,
    start_message,
    to_8k,
)

pytestmark = pytest.mark.integration

FRAME = 160  # 20 ms at 8 kHz


def _clip_ulaw(seconds: float) -> bytes:
    pcm16k, rate = load_wav(speech_dir() / "en_jfk.wav")
    assert rate == 16000
    pcm = to_8k(pcm16k)[: int(8000 * seconds)]
    return g711.ulaw_encode(pcm)


async def test_echo_returns_the_callers_audio_delayed(tmp_path: Path) -> None:
    sent = _clip_ulaw(2.0)
    async with running_server(tmp_path, echo_delay_ms=500) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(call_id="echo-1"))
        accepted = (await read_until(stream, "accepted"))[-1]
        assert accepted.accepted.call_id == "echo-1"
        assert accepted.media_time_ms == 0
        for i in range(0, len(sent), FRAME):
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=sent[i : i + FRAME])))
        # Wait for every frame to come back, then hang up.
        received = bytearray()
        marks: list[str] = []
        async with asyncio.timeout(15):
            while len(received) < len(sent):
                msg = await stream.read()
                if msg.WhichOneof("message") == "audio":
                    received += msg.audio.audio
                    marks.append(msg.audio.mark_id)
        await stream.write(pb.ClientMessage(playback_mark=pb.PlaybackMark(mark_id=marks[-1])))
        await stream.write(pb.ClientMessage(hangup=pb.Hangup(reason="done")))
        rest = await read_all(stream)
    assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
    delay = 8000 * 500 // 1000
    out = g711.ulaw_decode(bytes(received))
    expected = g711.ulaw_decode(sent)
    assert np.all(out[:delay] == 0), "the first 500 ms out are silence"
    np.testing.assert_array_equal(out[delay:], expected[: len(out) - delay])
    # The call record landed, with the media clock and counters.
    records = list((tmp_path / "records").glob("calls-*.jsonl"))
    record = json.loads(records[0].read_text().splitlines()[-1])
    assert record["call_id"] == "echo-1"
    assert record["outcome"] == "caller_hung_up"
    assert record["end_reason"] == "caller_hangup"
    assert record["media_duration_ms"] == 2000
    assert record["media"]["marks_acked"] == len(marks)
    assert record["recording"] == ""
    assert not (tmp_path / "recordings").exists(), "nothing is recorded unless asked for"


async def test_hold_stops_the_echo_within_a_frame(tmp_path: Path) -> None:
    sent = _clip_ulaw(3.0)
    async with (
        running_server(tmp_path, echo_delay_ms=200, grpc_playout_lead_ms=0) as server,
        channel_to(server) as ch,
    ):
        stream = open_call(ch)
        await stream.write(start_message(call_id="hold-1"))
        await read_until(stream, "accepted")
        # Real-time sender so the echo keeps flowing while we put the call on hold.
        for i in range(0, 8000 * 1, FRAME):  # 1 s of audio at 1x
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=sent[i : i + FRAME])))
            await asyncio.sleep(0.02)
        await read_until(stream, "audio")
        await stream.write(pb.ClientMessage(hold=pb.Hold()))
        await read_until(stream, "clear_audio")
        # Keep sending (music on hold) for 0.5 s: nothing may come back.
        for i in range(8000, 12000, FRAME):
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=sent[i : i + FRAME])))
            await asyncio.sleep(0.02)
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        after = await read_all(stream)
    audio_after_hold = [m for m in after if m.WhichOneof("message") == "audio"]
    # clear_audio goes out when the hold is processed: at most one frame after it.
    assert len(audio_after_hold) <= 1, len(audio_after_hold)
    record_file = next((tmp_path / "records").glob("*.jsonl"))
    record = json.loads(record_file.read_text().splitlines()[-1])
    assert record["holds"] and record["holds"][0]["end_ms"] >= record["holds"][0]["start_ms"]


async def test_recording_is_stereo_caller_left_bot_right(tmp_path: Path) -> None:
    sent = _clip_ulaw(1.5)
    async with running_server(tmp_path, echo_delay_ms=100) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(call_id="rec-1", record=True))
        await read_until(stream, "accepted")
        for i in range(0, len(sent), FRAME):
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=sent[i : i + FRAME])))
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        await read_all(stream)
    files = list((tmp_path / "recordings").rglob("rec-1.wav"))
    assert len(files) == 1
    with wave.open(str(files[0]), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    caller = frames[:, 0]
    expected = g711.ulaw_decode(sent)
    np.testing.assert_array_equal(caller[: expected.size], expected)
    bot = frames[:, 1]
    # The bot channel carries the echo: the same audio, about 100 ms later.
    corr = np.correlate(bot[:8000].astype(float), expected[:4000].astype(float), mode="valid")
    lag = int(np.argmax(corr))
    assert 700 <= lag <= 1300, lag  # 100 ms delay plus scheduling slack


async def test_gap_in_timestamps_is_filled_with_silence(tmp_path: Path) -> None:
    chunk = g711.ulaw_encode(np.full(FRAME, 1000, dtype=np.int16))
    async with running_server(tmp_path, echo_delay_ms=0) as server, channel_to(server) as ch:
        stream = open_call(ch)
        await stream.write(start_message(call_id="gap-1"))
        await read_until(stream, "accepted")
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=chunk, timestamp=0)))
        await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=chunk, timestamp=8000)))
        await stream.write(pb.ClientMessage(dtmf=pb.Dtmf(digit="5", duration_ms=100)))
        msgs = await read_until(stream, "dtmf")
        assert msgs[-1].media_time_ms == 1020  # 160 + 7840 gap + 160 samples
        assert msgs[-1].dtmf.source == pb.DTMF_SOURCE_CLIENT
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        await read_all(stream)


async def test_client_vanishing_mid_call_ends_only_that_call(tmp_path: Path) -> None:
    chunk = g711.ulaw_encode(np.zeros(FRAME, dtype=np.int16))
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        keeper = open_call(ch)
        await keeper.write(start_message(call_id="keeper"))
        await read_until(keeper, "accepted")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as doomed_channel:
            doomed = open_call(doomed_channel)
            await doomed.write(start_message(call_id="doomed"))
            await read_until(doomed, "accepted")
            await doomed.write(pb.ClientMessage(audio=pb.AudioChunk(audio=chunk)))
            doomed.cancel()
        async with asyncio.timeout(5):
            while server.sessions is not None and server.sessions.active > 1:
                await asyncio.sleep(0.05)
        assert server.sessions is not None and server.sessions.active == 1
        # The other call is unaffected.
        await keeper.write(pb.ClientMessage(audio=pb.AudioChunk(audio=chunk)))
        await keeper.write(pb.ClientMessage(hangup=pb.Hangup()))
        rest = await read_all(keeper)
        assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
    lines = [
        json.loads(line)
        for f in (tmp_path / "records").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    reasons = {r["call_id"]: r["end_reason"] for r in lines}
    assert reasons == {"doomed": "client_gone", "keeper": "caller_hangup"}
