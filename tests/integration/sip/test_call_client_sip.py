"""`callbot call --sip` against the real SIP front door: INVITE, RTP both ways, BYE."""

from __future__ import annotations

import asyncio
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.integration.sip.sip_helpers import free_port, records, sip_bot

pytestmark = pytest.mark.integration


async def _call(port: int, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callbot.cli", "call", "--sip", f"127.0.0.1:{port}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(), stderr.decode()


async def test_a_sip_caller_is_understood_by_the_demo_flow(tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    async with sip_bot(tmp_path, stt_languages="en", default_flow="lost_card_en") as bot:
        rc, stdout, stderr = await _call(bot.port, "--say", "I lost my card", "--out", str(out))
        for _ in range(50):  # the record lands once the server has seen the BYE
            if records(tmp_path):
                break
            await asyncio.sleep(0.1)
    assert rc == 0, stdout + stderr
    assert "answered over SIP" in stdout
    # The bot's answer to the caller's line, with its latency as the caller heard it.
    assert "voice-to-voice" in stdout, stdout
    assert "call ended: caller hung up" in stdout
    (record,) = records(tmp_path).values()
    assert record["media_mode"] == "sip" and record["end_reason"] == "caller_hangup"
    caller = [t["text"] for t in record["turns"] if t["speaker"] == "caller" and t.get("text")]
    assert caller and "card" in caller[0].lower(), record["turns"]
    bot_lines = [t["text"] for t in record["turns"] if t["speaker"] == "bot"]
    assert any("last four digits" in line for line in bot_lines), bot_lines
    with wave.open(str(out), "rb") as w:
        legs = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.abs(legs[:, 0]).max() > 1000 and np.abs(legs[:, 1]).max() > 1000, "both spoke"


async def test_a_refused_sip_call_says_why(tmp_path: Path) -> None:
    async with sip_bot(tmp_path, sip_allowed_sources="10.9.9.0/24") as bot:
        rc, stdout, stderr = await _call(bot.port, "--say", "hello", "--out", "")
    assert rc == 1, stdout
    assert "403" in stderr, stderr


async def test_calling_a_port_where_nothing_listens_fails_at_once() -> None:
    port = free_port()
    rc, stdout, stderr = await _call(port, "--say", "hello", "--out", "")
    assert rc == 1, stdout
    assert f"nothing answers SIP at 127.0.0.1:{port}" in stderr, stderr
