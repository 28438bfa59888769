"""The RTP media fork with real peers: ffmpeg, SIPp's pcaps, and a scripted UDP peer."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callbot.media import g711
from callbot.media.rtp import RtpPacket
from callbot.v1 import callbot_pb2 as pb
from tests.conftest import speech_dir
from tests.grpc_helpers import (
    channel_to,
    open_call,
    read_all,
    read_until,
    running_server,
    start_message,
)
from tests.rtp_helpers import decode_8k, pcap_udp_payloads, send_ulaw_at_1x, udp_peer

pytestmark = pytest.mark.integration

SIPP_PCAPS = Path("/usr/share/sip-tester")


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (make test installs it)")


def _records(tmp_path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for f in (tmp_path / "records").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            out[rec["call_id"]] = rec
    return out


def _recording(tmp_path: Path, call_id: str) -> np.ndarray:
    path = next((tmp_path / "recordings").rglob(f"{call_id}.wav"))
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


def _aligned(recorded: np.ndarray, reference: np.ndarray) -> int:
    """The constant offset at which `reference` appears sample for sample in `recorded`."""
    first = int(np.flatnonzero(reference)[0])
    for start in np.flatnonzero(recorded == reference[first]):
        offset = int(start) - first
        if offset < 0 or offset + reference.size > recorded.size:
            continue
        if np.array_equal(recorded[offset : offset + reference.size], reference):
            return offset
    raise AssertionError("reference audio not found sample for sample in the recording")


async def _rtp_call(stream: Any, call_id: str, **fields: Any) -> int:
    await stream.write(start_message(call_id=call_id, media_mode=pb.MEDIA_MODE_RTP, **fields))
    accepted = (await read_until(stream, "accepted"))[-1].accepted
    assert accepted.local_rtp.host == "127.0.0.1" and accepted.local_rtp.port % 2 == 0
    return int(accepted.local_rtp.port)


@pytest.mark.parametrize(("codec", "fmt"), [(pb.CODEC_PCMU, "mulaw"), (pb.CODEC_PCMA, "alaw")])
async def test_ffmpeg_rtp_is_received_sample_exact(tmp_path: Path, codec: int, fmt: str) -> None:
    _need("ffmpeg")
    clip = speech_dir() / "en_cards_005.wav"
    # ffmpeg's own G.711 encode then decode: what the bot must hear, sample for sample.
    encoded = tmp_path / f"ref.{fmt}"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-f",
            fmt,
            str(encoded),
        ],
        check=True,
    )
    decode = g711.ulaw_decode if fmt == "mulaw" else g711.alaw_decode
    ref_raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            fmt,
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            str(encoded),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    reference = np.frombuffer(ref_raw, dtype="<i2")
    np.testing.assert_array_equal(reference, decode(encoded.read_bytes()))
    # ffmpeg -re paces per demuxed block (128 ms here), so its 20 ms packets leave in
    # bursts: a jitter buffer deep enough for them plays every sample exactly once.
    async with (
        running_server(tmp_path, rtp_jitter_target_ms=300) as server,
        channel_to(server) as ch,
    ):
        stream = open_call(ch)
        port = await _rtp_call(stream, "ff", codec=codec, record=True)
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg",
            "-v",
            "error",
            "-re",
            "-f",
            fmt,
            "-ar",
            "8000",
            "-ac",
            "1",
            "-i",
            str(encoded),
            "-af",
            "asetnsamples=n=160:p=1",
            "-c:a",
            "pcm_mulaw" if fmt == "mulaw" else "pcm_alaw",
            "-f",
            "rtp",
            f"rtp://127.0.0.1:{port}",
        )
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await asyncio.sleep(0.3)
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        await read_all(stream)
    rec = _records(tmp_path)["ff"]
    assert rec["media_mode"] == "rtp"
    assert rec["media"]["rtp_packets_in"] == -(-reference.size // 160)
    assert rec["media"]["rtp_lost"] == 0 and rec["media"]["rtp_malformed"] == 0
    assert rec["media"]["rtp_rtcp_in"] >= 1, "ffmpeg's RTCP on port+1 was seen"
    caller = _recording(tmp_path, "ff")[:, 0]
    _aligned(caller, reference)


async def test_echo_comes_back_to_the_sender_paced(tmp_path: Path) -> None:
    """A scripted peer replays ffmpeg-made packets at 1x and gets the echo back."""
    pcm = decode_8k(speech_dir() / "en_cards_002.wav")
    frames = [pcm[i : i + 160] for i in range(0, pcm.size - 159, 160)]
    async with running_server(tmp_path, echo_delay_ms=200) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(stream, "echo-rtp")
        peer = await udp_peer()
        handles = send_ulaw_at_1x(peer, port, np.concatenate(frames), ssrc=0x1234)
        try:
            await asyncio.sleep(0.02 * len(frames) + 0.6)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            await read_all(stream)
        finally:
            for h in handles:
                h.cancel()
            peer.close()
    packets = peer.rtp()
    assert len(packets) >= len(frames) - 2
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs)), "no gaps"
    assert len({p.ssrc for p in packets}) == 1
    arrivals = np.array([r.at for r in peer.received if r.data[1] & 0x7F < 72])
    spacing = np.diff(arrivals) * 1000
    # Paced, not bursted: the typical gap is one packet interval and the whole
    # stream spans real time. (Percentile bounds on a loaded CI box are bench/rtp.py's job.)
    assert abs(float(np.median(spacing)) - 20) < 3
    assert abs(arrivals[-1] - arrivals[0] - 0.02 * (len(arrivals) - 1)) < 0.1 * 0.02 * len(arrivals)
    echoed = np.concatenate([g711.ulaw_decode(p.payload) for p in packets])
    sent = g711.ulaw_decode(g711.ulaw_encode(np.concatenate(frames)))
    # The echo is the caller's audio, delayed: find it sample for sample.
    _aligned(echoed, sent[: sent.size - 8000])


async def test_foreign_source_malformed_and_ssrc_change(tmp_path: Path) -> None:
    tone = g711.ulaw_encode((3000 * np.sin(np.arange(160) * 0.3)).astype(np.int16))
    async with (
        running_server(tmp_path, media_timeout_s=5) as server,
        channel_to(server) as ch,
    ):
        stream = open_call(ch)
        port = await _rtp_call(stream, "robust")
        peer, intruder = await udp_peer(), await udp_peer()
        try:
            for i in range(100):
                ssrc = 0x1111 if i < 50 else 0x2222  # a new stream from the same peer
                peer.send(RtpPacket(0, i, 160 * i, ssrc, tone).serialize(), port)
                if i % 10 == 5:
                    intruder.send(RtpPacket(0, i, 160 * i, 0x9999, tone).serialize(), port)
                    peer.send(b"\x80\x00\x01", port)  # truncated header
                    peer.send(b"\x40" + bytes(20), port)  # RTP version 1
                await asyncio.sleep(0.02)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            rest = await read_all(stream)
        finally:
            peer.close()
            intruder.close()
    assert rest[-1].call_ended.reason == pb.END_REASON_CALLER_HANGUP
    media = _records(tmp_path)["robust"]["media"]
    assert media["rtp_packets_in"] == 100
    assert media["rtp_foreign_drops"] == 10
    assert media["rtp_malformed"] == 20
    assert media["rtp_ssrc_changes"] == 1
    # The bot never sent its echo to the intruder.
    assert not any(r.addr[1] == port for r in intruder.received)


async def test_loss_and_jitter_are_absorbed_and_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    frame = g711.ulaw_encode((2000 * np.sin(np.arange(160) * 0.2)).astype(np.int16))
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(stream, "lossy")
        peer = await udp_peer()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        sent = lost = 0
        handles = []
        try:
            for i in range(150):  # 3 s
                if rng.random() < 0.05:
                    lost += 1
                    continue
                data = RtpPacket(0, i, 160 * i, 0x77, frame).serialize()
                when = start + 0.02 * i + rng.uniform(0, 0.04)  # up to 40 ms of jitter
                handles.append(loop.call_at(when, peer.send, data, port))
                sent += 1
            await asyncio.sleep(3.5)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            await read_all(stream)
        finally:
            for h in handles:
                h.cancel()
            peer.close()
    media = _records(tmp_path)["lossy"]["media"]
    assert media["rtp_packets_in"] == sent
    assert media["rtp_lost"] + media["rtp_late"] >= lost
    assert media["rtp_jitter_us"] > 1000
    assert media["rtp_concealed_frames"] >= 1


async def test_sipp_alaw_pcap_30ms_packets(tmp_path: Path) -> None:
    pcap = SIPP_PCAPS / "g711a.pcap"
    if not pcap.exists():
        pytest.fail("SIPp's pcaps are missing (make test installs sip-tester)")
    packets = [(t, d) for t, d in pcap_udp_payloads(pcap) if len(d) > 12]
    first = RtpPacket.parse(packets[0][1])
    assert first.payload_type == 8 and len(first.payload) in (160, 240)
    packet_ms = len(first.payload) // 8
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(
            stream, "sipp-a", codec=pb.CODEC_PCMA, packet_ms=packet_ms, record=True
        )
        peer = await udp_peer()
        try:
            t0 = packets[0][0]
            loop = asyncio.get_running_loop()
            base = loop.time()
            for t, data in packets:
                delay = base + (t - t0) - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                peer.send(data, port)
            await asyncio.sleep(0.3)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            await read_all(stream)
        finally:
            peer.close()
    media = _records(tmp_path)["sipp-a"]["media"]
    assert media["rtp_packets_in"] == len(packets)
    assert media["rtp_malformed"] == 0
    reference = np.concatenate([g711.alaw_decode(RtpPacket.parse(d).payload) for _, d in packets])
    _aligned(_recording(tmp_path, "sipp-a")[:, 0], reference)


async def test_no_media_ends_the_call_and_frees_the_ports(tmp_path: Path) -> None:
    async with running_server(tmp_path, media_timeout_s=1) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(stream, "silent")
        rest = await read_all(stream, timeout=10)
        assert rest[-1].call_ended.reason == pb.END_REASON_MEDIA_TIMEOUT
        # Both ports are free again.
        a, b = await udp_peer(port), await udp_peer(port + 1)
        a.close()
        b.close()


async def _dtmf_events(stream: Any) -> list[pb.ServerMessage]:
    msgs = await read_all(stream)
    return [m for m in msgs if m.WhichOneof("message") == "dtmf"]


async def test_sipp_rfc2833_pcaps_become_dtmf_events(tmp_path: Path) -> None:
    pcaps = sorted(SIPP_PCAPS.glob("dtmf_2833_*.pcap"))
    if len(pcaps) != 12:
        pytest.fail("SIPp's DTMF pcaps are missing (make test installs sip-tester)")
    named = {"pound": "#", "star": "*"}
    # Replayed in capture order; each file's name says which key it holds.
    by_time = sorted((list(pcap_udp_payloads(p)), p.stem.rsplit("_", 1)[1]) for p in pcaps)
    captures = [c for c, _ in by_time]
    expected = "".join(named.get(key, key) for _, key in by_time)
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(stream, "dtmf-pcap")
        peer = await udp_peer()
        try:
            for capture in captures:
                t0 = capture[0][0]
                start = asyncio.get_running_loop().time()
                for t, data in capture:
                    delay = start + (t - t0) - asyncio.get_running_loop().time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    peer.send(data, port)
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.2)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            events = await _dtmf_events(stream)
        finally:
            peer.close()
    assert "".join(e.dtmf.digit for e in events) == expected
    assert all(e.dtmf.source == pb.DTMF_SOURCE_RFC4733 for e in events)
    assert all(150 <= e.dtmf.duration_ms <= 400 for e in events)
    assert _records(tmp_path)["dtmf-pcap"]["media"]["rtp_dtmf_events"] == 12


async def test_inband_tones_in_speech_become_dtmf_events(tmp_path: Path) -> None:
    pcm = decode_8k(speech_dir() / "en_librivox_0890.wav").astype(np.float64)[: 8000 * 3]
    keys = {"1": (697, 1209), "5": (770, 1336), "9": (852, 1477), "#": (941, 1477)}
    t = np.arange(800) / 8000  # 100 ms tones, -10 dBFS per tone
    amp = 32768 * 10 ** (-10 / 20)
    for i, (low, high) in enumerate(keys.values()):
        at = 4000 + i * 4800
        pcm[at : at + 800] += amp * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    audio = np.clip(pcm, -32768, 32767).astype(np.int16)
    async with running_server(tmp_path) as server, channel_to(server) as ch:
        stream = open_call(ch)
        port = await _rtp_call(stream, "inband")
        peer = await udp_peer()
        handles = send_ulaw_at_1x(peer, port, audio)
        try:
            await asyncio.sleep(0.02 * (audio.size // 160) + 0.5)
            await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
            events = await _dtmf_events(stream)
        finally:
            for h in handles:
                h.cancel()
            peer.close()
    assert "".join(e.dtmf.digit for e in events) == "159#"
    assert all(e.dtmf.source == pb.DTMF_SOURCE_INBAND for e in events)
    assert all(70 <= e.dtmf.duration_ms <= 130 for e in events)
