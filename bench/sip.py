"""SIP front door under load: N concurrent SIPp echo calls, setup time and CPU per call.

Starts a callbot server with its SipService in this process, then one SIPp process
places N calls at once (each streams a speech file over RTP for --seconds and hangs
up). Reports whether every call was answered and cleaned up, INVITE→200 setup time
percentiles (SIPp's response-time trace), and this process's CPU per call.

    python -m bench.sip [--calls 50] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from callbot.clock import LoopClock
from callbot.config import Settings
from callbot.server.app import CallbotServer
from callbot.sip.service import SipService
from callbot.sip.settings import SipSettings

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "tests/integration/sip/scenarios/speech_call.xml"
SPEECH = ROOT.parent / "shared/data/speech/en_cards_005.wav"


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _read_results(work: Path) -> tuple[list[float], int]:
    """SIPp's INVITE→200 times (ms) from its -trace_rtt file, and the call records landed."""
    setup_ms: list[float] = []
    for csv in work.glob("*_rtt.csv"):
        for line in csv.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                setup_ms.append(float(parts[1]))
    n_records = sum(len(f.read_text().splitlines()) for f in (work / "records").glob("*.jsonl"))
    return setup_ms, n_records


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def bench(calls: int, seconds: float, work: Path) -> dict[str, Any]:
    audio = work / "speech.ul"
    source = SPEECH if SPEECH.exists() else Path("/work/shared/data/speech/en_cards_005.wav")
    ffmpeg = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-loglevel",
        "error",
        "-i",
        str(source),
        "-ar",
        "8000",
        "-ac",
        "1",
        "-f",
        "mulaw",
        str(audio),
    )
    if await ffmpeg.wait() != 0:
        raise RuntimeError("ffmpeg could not convert the speech clip")
    scen = work / "load.xml"
    scen.write_text(
        SCENARIO.read_text()
        .replace("@AUDIO@", str(audio))
        .replace("@HOLD_MS@", str(int(seconds * 1000)))
    )
    values = {
        "grpc_address": "127.0.0.1:0",
        "metrics_address": "",
        "records_dir": str(work / "records"),
        "recordings_dir": str(work / "recordings"),
        "max_calls": calls + 10,
        "log_level": "WARNING",
        # The echo loop: SIP signalling and media are measured, not speech models.
        "stt_languages": "",
        "default_flow": "echo",
    }
    server = CallbotServer(Settings.from_mapping(values))
    await server.start()
    assert server.sip_host is not None and server.sessions is not None
    sip_settings = Settings.from_mapping({**values, "sip_address": "127.0.0.1:0"})
    sip = SipService(server.sip_host, SipSettings.from_settings(sip_settings), LoopClock())
    await sip.start()
    cpu0, wall0 = _cpu_s(), time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            "sipp",
            f"127.0.0.1:{sip.udp_port}",
            "-sf",
            str(scen),
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-mp",
            "16000",
            "-m",
            str(calls),
            "-l",
            str(calls),
            "-r",
            str(calls),
            "-timeout",
            str(int(seconds + 60)) + "s",
            "-timeout_error",
            "-nostdin",
            "-trace_rtt",
            "-rtt_freq",
            "1",
            "-trace_stat",
            cwd=work,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        wall = time.monotonic() - wall0
        cpu = _cpu_s() - cpu0
        deadline = time.monotonic() + 10
        while (server.sessions.active or sip.active_dialogs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        leftover = {"sessions": server.sessions.active, "dialogs": sip.active_dialogs}
        stats = dict(sip.uas.stats)
    finally:
        await sip.stop()
        await server.stop()
    setup_ms, n_records = await asyncio.to_thread(_read_results, work)
    return {
        "calls": calls,
        "call_seconds": seconds,
        "sipp_exit": proc.returncode,
        "answered": stats.get("answered", 0),
        "records": n_records,
        "left_over": leftover,
        "setup_ms_p50": round(_pct(setup_ms, 0.50), 2),
        "setup_ms_p95": round(_pct(setup_ms, 0.95), 2),
        "setup_ms_max": round(max(setup_ms, default=float("nan")), 2),
        "bot_cpu_s": round(cpu, 3),
        "bot_cpu_ms_per_call": round(1000 * cpu / calls, 1),
        "bot_cpu_pct_core_per_call": round(100 * cpu / wall / calls, 3),
        "wall_s": round(wall, 2),
        "pass": proc.returncode == 0
        and stats.get("answered", 0) == calls
        and n_records == calls
        and leftover == {"sessions": 0, "dialogs": 0},
        "sipp_tail": out.decode(errors="replace").splitlines()[-3:] if proc.returncode else [],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--out", default=str(ROOT / "bench/results/sip.json"))
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian sip-tester)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(bench(args.calls, args.seconds, Path(tmp)))
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
