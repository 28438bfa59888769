"""pjsua2 (a subprocess) calls the bot: hold/resume, DTMF, hang-up both ways, transfer."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from callbot.server.sip_host import SipCall
from callbot.v1 import callbot_pb2 as pb
from tests.integration.sip.sip_helpers import SipBot, records, sip_bot, wait_for

pytestmark = pytest.mark.integration

PEER = Path(__file__).with_name("pjsua_peer.py")


class Pjsua:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def call(cls, bot: SipBot, *steps: str, tcp: bool = False) -> Pjsua:
        pytest.importorskip("pjsua2")
        argv = [sys.executable, str(PEER), f"sip:bot@127.0.0.1:{bot.port}", *steps]
        proc = await asyncio.create_subprocess_exec(
            *argv + (["--tcp"] if tcp else []),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(proc)

    async def until(self, event: str, timeout: float = 15, **match: Any) -> dict[str, Any]:
        for seen in self.events:
            if seen["event"] == event and all(seen.get(k) == v for k, v in match.items()):
                return seen
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    raise AssertionError(f"pjsua ended before {event}: {self.events}")
                if not line.startswith(b"{"):
                    continue
                got: dict[str, Any] = json.loads(line)
                self.events.append(got)
                if got["event"] == event and all(got.get(k) == v for k, v in match.items()):
                    return got

    async def finish(self) -> None:
        try:
            await self.until("done", timeout=20)
        finally:
            if self.proc.returncode is None:
                try:
                    await asyncio.wait_for(self.proc.wait(), 5)
                except TimeoutError:
                    self.proc.kill()
                    await self.proc.wait()


def only_call(bot: SipBot) -> SipCall:
    calls = [d.call for d in bot.sip.uas.dialogs.values() if d.call is not None]
    assert len(calls) == 1
    return calls[0]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_pjsua_hold_resume_dtmf_and_caller_hangup(tmp_path: Path, tcp: bool) -> None:
    async with sip_bot(tmp_path) as bot:
        peer = await Pjsua.call(
            bot,
            "wait:0.5",
            "hold",
            "wait:0.7",
            "resume",
            "wait:0.7",
            "dtmfinfo:5#",
            "dtmf2833:7",
            "wait:1",
            "hangup",
            tcp=tcp,
        )
        await peer.until("ready")
        await wait_for(lambda: bot.sip.active_dialogs == 1)
        call = only_call(bot)
        seen: list[pb.ServerMessage] = []
        call.listeners.append(seen.append)
        await wait_for(lambda: call.session.held, what="hold")
        await wait_for(lambda: not call.session.held, what="resume")
        await peer.finish()
        await wait_for(lambda: bot.sip.active_dialogs == 0)
        digits = [m.dtmf.digit for m in seen if m.WhichOneof("message") == "dtmf"]
        assert digits[:2] == ["5", "#"]
        assert bot.sip.uas.stats["holds"] == 1
    rec = next(iter(records(tmp_path).values()))
    assert rec["end_reason"] == "caller_hangup"
    assert len(rec["holds"]) == 1


async def test_bot_hangup_sends_bye_to_pjsua(tmp_path: Path) -> None:
    async with sip_bot(tmp_path) as bot:
        peer = await Pjsua.call(bot, "waitend:15")
        await peer.until("ready")
        await wait_for(lambda: bot.sip.active_dialogs == 1)
        call = only_call(bot)
        call.session.send(
            pb.ServerMessage(
                action=pb.Action(action_id="a1", hangup=pb.HangupAction(reason="done"))
            )
        )
        await peer.until("state", state="DISCONNECTED")
        await peer.finish()
        await wait_for(lambda: bot.sip.active_dialogs == 0)
        assert bot.sip.uas.stats["bye_sent"] == 1
    rec = next(iter(records(tmp_path).values()))
    assert rec["end_reason"] == "bot_hangup"
