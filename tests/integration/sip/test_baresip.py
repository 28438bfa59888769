"""baresip calls the bot and records what it hears; baresip answers a REFER'd call."""

from __future__ import annotations

import asyncio
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from callbot.v1 import callbot_pb2 as pb
from tests.conftest import speech_dir
from tests.integration.sip.sip_helpers import (
    baresip_config,
    free_port,
    need,
    records,
    run,
    sip_bot,
    wait_for,
)
from tests.integration.sip.test_pjsua import Pjsua, only_call

pytestmark = pytest.mark.integration


def _wav8k(tmp_path: Path, clip: str = "en_cards_005.wav") -> Path:
    out = tmp_path / "source.wav"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(speech_dir() / clip),
            "-ar",
            "8000",
            "-ac",
            "1",
            "-c:a",
            "pcm_s16le",
            str(out),
        ],
        check=True,
    )
    return out


def _samples(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


async def test_baresip_calls_the_bot_and_hears_its_echo(tmp_path: Path) -> None:
    need("baresip")
    source = _wav8k(tmp_path)
    rec_dir = tmp_path / "heard"
    rec_dir.mkdir()
    conf = baresip_config(tmp_path, free_port(), source=source, record_dir=rec_dir)
    async with sip_bot(tmp_path) as bot:
        _, out = await run(
            "baresip",
            "-f",
            str(conf),
            "-e",
            f"/dial sip:bot@127.0.0.1:{bot.port}",
            "-t",
            "5",
            timeout=20,
        )
        await wait_for(lambda: bot.sip.active_dialogs == 0, timeout=10)
    assert "Call established" in out or "call established" in out.lower(), out
    heard = _samples(next(rec_dir.glob("*-dec.wav")))
    sent = _samples(source)
    assert heard.size > 8000 * 2
    # The echo loop plays the caller's own speech back 500 ms later: loud, not silence.
    assert np.sqrt(np.mean(heard.astype(np.float64) ** 2)) > 0.1 * np.sqrt(
        np.mean(sent[: heard.size].astype(np.float64) ** 2)
    )
    assert any(
        r["end_reason"] in ("caller_hangup", "server_shutdown") for r in records(tmp_path).values()
    )


async def test_transfer_refers_pjsua_to_an_auto_answering_baresip(tmp_path: Path) -> None:
    need("baresip")
    callee_port = free_port()
    target = f"sip:callee@127.0.0.1:{callee_port}"
    conf = baresip_config(tmp_path, callee_port, source=_wav8k(tmp_path), record_dir=None)
    callee = await asyncio.create_subprocess_exec(
        "baresip",
        "-f",
        str(conf),
        "-t",
        "25",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await asyncio.sleep(0.8)
        async with sip_bot(tmp_path, sip_transfer_targets=f"desk={target}") as bot:
            peer = await Pjsua.call(bot, "waitend:15")
            await peer.until("ready")
            await wait_for(lambda: bot.sip.active_dialogs == 1)
            call = only_call(bot)
            # Not on the allowlist: refused, the call goes on.
            call.session.send(
                pb.ServerMessage(
                    action=pb.Action(transfer=pb.TransferAction(target="sip:premium@evil.example"))
                )
            )
            assert bot.sip.uas.stats["transfer_refused"] == 1
            call.session.send(
                pb.ServerMessage(
                    action=pb.Action(
                        action_id="t1",
                        transfer=pb.TransferAction(target="desk", context={"intent": "billing"}),
                    )
                )
            )
            refer = await peer.until("refer")
            assert refer["target"].startswith(f"<{target}?") or refer["target"].startswith(target)
            assert "X-Callbot-intent=billing" in refer["target"]
            await peer.finish()
            after = peer.events[peer.events.index(refer) :]
            assert any(e.get("state") == "CONFIRMED" for e in after), "the REFER'd call connected"
            await wait_for(lambda: bot.sip.active_dialogs == 0)
    finally:
        callee.terminate()
        out, _ = await callee.communicate()
    assert b"answering call" in out
    rec = next(iter(records(tmp_path).values()))
    assert rec["end_reason"] == "transferred"
