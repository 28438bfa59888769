"""A callbot server with its SIP front door on 127.0.0.1, and real-peer helpers."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from callbot.clock import LoopClock
from callbot.config import Settings
from callbot.server.app import CallbotServer
from callbot.sip.service import SipService
from callbot.sip.settings import SipSettings
from tests.grpc_helpers import running_server

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP_PCAPS = Path("/usr/share/sip-tester")


@dataclass
class SipBot:
    server: CallbotServer
    sip: SipService

    @property
    def port(self) -> int:
        return self.sip.udp_port


@asynccontextmanager
async def sip_bot(tmp_path: Path, **overrides: Any) -> AsyncIterator[SipBot]:
    """running_server(...) plus a SipService on server.sip_host, as app.py will wire it."""
    sip_values = {k: v for k, v in overrides.items() if k.startswith("sip_")}
    server_values = {k: v for k, v in overrides.items() if not k.startswith("sip_")}
    sip_values.setdefault("sip_address", "127.0.0.1:0")
    async with running_server(tmp_path, **server_values) as server:
        settings = Settings.from_mapping(
            {
                **{f: getattr(server.settings, f) for f in ("default_flow", "default_language")},
                **sip_values,
            }
        )
        assert server.sip_host is not None
        sip = SipService(server.sip_host, SipSettings.from_settings(settings), LoopClock())
        await sip.start()
        try:
            yield SipBot(server, sip)
        finally:
            await sip.stop()


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed (make test installs it)")


def free_port(kind: int = socket.SOCK_DGRAM, even: bool = False) -> int:
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not even or port % 2 == 0:
            return port


def records(tmp_path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in (tmp_path / "records").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            out[rec["call_id"]] = rec
    return out


async def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def run(*argv: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run a peer process to its end; returns (exit code, stdout+stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -9, out.decode(errors="replace")
    return proc.returncode or 0, out.decode(errors="replace")


def sipp_argv(bot_port: int, scenario: Path, *extra: str, calls: int = 1) -> list[str]:
    return [
        "sipp",
        f"127.0.0.1:{bot_port}",
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-timeout",
        "60s",
        "-timeout_error",
        "-nostdin",
        "-max_recv_loops",
        "1000",
        *extra,
    ]


def baresip_config(
    home: Path, sip_port: int, *, source: Path | None, record_dir: Path | None
) -> Path:
    """A baresip config dir: g711 only, aufile source, sndfile recorder, auto answer."""
    conf = home / "baresip"
    conf.mkdir(parents=True, exist_ok=True)
    modules = ["g711.so", "aufile.so", "menu.so", "account.so"]
    if record_dir is not None:
        modules.append("sndfile.so")
    lines = [
        "poll_method epoll",
        f"sip_listen 127.0.0.1:{sip_port}",
        "net_interface 127.0.0.1",
        "module_path /usr/lib/baresip/modules",
        *(f"module {m}" for m in modules),
        f"audio_source aufile,{source}" if source else "audio_source aufile,/dev/null",
        "audio_player aufile,/dev/null",
        "audio_alert aufile,/dev/null",
        "rtp_ports 30000-30999",
        "sip_trans_def udp",
    ]
    if record_dir is not None:
        lines.append(f"snd_path {record_dir}")
    (conf / "config").write_text("\n".join(lines) + "\n")
    (conf / "accounts").write_text(
        "<sip:callee@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
    )
    return conf
