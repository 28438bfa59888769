"""`callbot call` against a real server (echo flow): it talks, listens and saves both legs."""

from __future__ import annotations

import asyncio
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import speech_dir
from tests.grpc_helpers import running_server

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["--grpc", "--rtp"])
async def test_call_client_saves_both_legs(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "call.wav"
    async with running_server(tmp_path, echo_delay_ms=200) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callbot.cli", "call", mode, "--flow", "echo",
            "--address", f"127.0.0.1:{server.port}",
            "--wav", str(speech_dir() / "en_cards_001.wav"), "--out", str(out),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stdout.decode()
    assert b"accepted: flow echo" in stdout
    with wave.open(str(out), "rb") as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
        legs = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    caller, bot = legs[:, 0].astype(float), legs[:, 1].astype(float)
    assert np.abs(caller).max() > 1000, "the caller spoke"
    # The bot leg is the echo: the caller's speech again, about 200 ms later.
    first = int(np.flatnonzero(np.abs(caller) > 1000)[0])  # the caller waits ~2 s first
    corr = np.correlate(bot[first:], caller[first : first + 8000 * 2], mode="valid")
    lag_ms = int(np.argmax(corr)) / 8
    assert 150 <= lag_ms <= 500, lag_ms


async def _demo_call(tmp_path: Path, *say: str) -> tuple[list[str], str]:
    """`callbot call --say …` against the demo flow: (the caller lines heard, all output)."""
    async with running_server(tmp_path, stt_languages="en", default_flow="lost_card_en") as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "callbot.cli", "call", "--grpc",
            "--address", f"127.0.0.1:{server.port}",
            "--say", *say, "--out", str(tmp_path / "call.wav"),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, _ = await asyncio.wait_for(proc.communicate(), 120)
    out = stdout.decode()
    assert proc.returncode == 0, out
    return [line for line in out.splitlines() if "caller:" in line], out


async def test_call_client_says_a_line_to_the_demo_flow(tmp_path: Path) -> None:
    """The newcomer's first minute: the caller waits for the greeting, then is understood."""
    caller, out = await _demo_call(tmp_path, "I lost my card")
    assert caller and "card" in caller[0].lower(), out
    assert "last four digits" in out.split(caller[0], 1)[1], out  # the flow moved on
    assert "voice-to-voice" in out


async def test_each_line_waits_for_the_bots_answer_to_the_last(tmp_path: Path) -> None:
    """Two lines: the second is said after the bot has answered the first, not straight on."""
    caller, out = await _demo_call(tmp_path, "I lost my card", "four five six seven")
    assert len(caller) == 2, out  # two turns, not one merged utterance
    between = out.split(caller[0], 1)[1].split(caller[1], 1)[0]
    assert "last four digits" in between, out
    assert "date of birth" in out.split(caller[1], 1)[1], out  # four digits: the flow moved on
