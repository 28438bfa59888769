"""A real peer: ffmpeg sends mu-law RTP on 127.0.0.1; parse, buffer and play it back."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest

from callbot.media.codec import AudioCodec, CodecName
from callbot.media.jitter import FrameKind, JitterBuffer
from callbot.media.rtcp import RtcpType, parse_rtcp
from callbot.media.rtp import RtpPacket, is_rtcp, seq_diff, ts_diff
from tests.conftest import speech_dir

pytestmark = pytest.mark.integration


def test_ffmpeg_stream_round_trips_and_plays_in_order() -> None:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    clip = speech_dir() / "en_cards_004.wav"
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    port = rtp.getsockname()[1]
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp.bind(("127.0.0.1", port + 1))
    rtp.settimeout(0.05)
    rtcp.setblocking(False)
    cmd = ["ffmpeg", "-loglevel", "error", "-re", "-i", str(clip), "-ac", "1"]
    cmd += ["-af", "aresample=8000,asetnsamples=n=160:p=1", "-c:a", "pcm_mulaw"]
    cmd += ["-f", "rtp", f"rtp://127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    packets: list[tuple[float, bytes]] = []
    reports: list[bytes] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                packets.append((time.monotonic(), rtp.recv(2048)))
            except TimeoutError:
                if proc.poll() is not None:
                    break
            with contextlib.suppress(BlockingIOError):
                reports.append(rtcp.recv(2048))
    finally:
        proc.kill()
        proc.wait()
        rtp.close()
        rtcp.close()

    parsed = []
    for _, data in packets:
        assert not is_rtcp(data)
        packet = RtpPacket.parse(data)
        assert packet.serialize() == data
        parsed.append(packet)
    assert len(parsed) >= 70  # 1.55 s of audio in 20 ms packets
    assert all(
        seq_diff(b.sequence_number, a.sequence_number) == 1 for a, b in itertools.pairwise(parsed)
    )
    for data in reports:
        assert is_rtcp(data)
        assert parse_rtcp(data)[0].packet_type == RtcpType.SR

    codec = AudioCodec(CodecName.PCMU)
    jb = JitterBuffer(8000)
    start = packets[0][0]
    frames = []
    next_pop = start
    for (arrival, _), packet in zip(packets, parsed, strict=True):
        while next_pop <= arrival:
            frames.append(jb.pop())
            next_pop += 0.02
        jb.push(
            packet.sequence_number, packet.timestamp, codec.decode(packet.payload), arrival - start
        )
    frames += [jb.pop() for _ in range(10)]
    expected = codec.decode(b"".join(p.payload for p in parsed))
    ts0 = parsed[0].timestamp
    # Frames that played the timeline 1:1 carry exactly the sent audio; the buffer
    # may also have stretched or merged a frame to ride out ffmpeg's bursts.
    exact = [f for f in frames if f.kind is FrameKind.AUDIO and f.consumed == 160]
    for frame in exact:
        assert frame.timestamp is not None
        offset = ts_diff(frame.timestamp, ts0)
        assert np.array_equal(frame.pcm, expected[offset : offset + 160])
    assert len(exact) >= len(parsed) - 5
    offsets = [ts_diff(f.timestamp, ts0) for f in frames if f.timestamp is not None]
    assert offsets == sorted(offsets)
    stats = jb.stats
    assert stats.lost == 0 and stats.late == 0 and stats.duplicates == 0
    # ffmpeg -re paces in small bursts: ~30 ms of RFC 3550 jitter was seen on loopback.
    assert stats.jitter < 0.1
