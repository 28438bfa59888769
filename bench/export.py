"""Export benchmark: throughput (records/s) and the effect of exporting on call-like latency.

    .venv/bin/python bench/export.py   # RabbitMQ on 127.0.0.1:5672; -> bench/results/export.json

Throughput: N call-like events (call.started, 3 turns, call.ended per call)
through redaction, the fsynced outbox and the broker's confirms, start to
fully confirmed. Latency: 50 simulated calls tick every 20 ms (the frame
cadence) and measure how late each tick runs, without and with the exporter
publishing their events (one turn a second each, plus a full record at the end).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callbot.clock import LoopClock  # noqa: E402
from callbot.export.exporter import Exporter  # noqa: E402
from callbot.record import TurnRecord  # noqa: E402
from tests.unit.export.helpers import export_settings, finish, make_record  # noqa: E402

URL = "amqp://guest:guest@127.0.0.1:5672/"
RESULTS = ROOT / "bench/results/export.json"


def _one_call(exporter: Exporter, call_id: str) -> int:
    record = make_record(call_id)
    exporter.call_started(record)
    for i in range(3):
        turn = TurnRecord("caller", "speech", i * 1000, i * 1000 + 900, text=f"I lost my card {i}")
        record.turns.append(turn)
        exporter.turn_final(record, turn)
    exporter.call_ended(finish(record))
    return 5


async def throughput(calls: int, rabbitmq: bool, jsonl: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides: dict[str, Any] = {"export_rabbitmq_url": URL if rabbitmq else ""}
        if not jsonl:
            overrides["export_jsonl_dir"] = ""
        exporter = Exporter(export_settings(Path(tmp), **overrides), clock=LoopClock())
        await exporter.start()
        start = time.perf_counter()
        events = 0
        publish_s = 0.0
        for c in range(calls):
            t0 = time.perf_counter()
            events += _one_call(exporter, f"bench-{c}")
            publish_s += time.perf_counter() - t0
            if c % 50 == 0:
                await asyncio.sleep(0)
        drained = await exporter.aclose(timeout_s=120)
        elapsed = time.perf_counter() - start
    return {
        "sinks": "+".join(s for s, on in (("rabbitmq", rabbitmq), ("jsonl", jsonl)) if on),
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed),
        "publish_us_per_event": round(publish_s / events * 1e6, 1),
        "drained": drained,
    }


async def tick_lateness(export: bool, seconds: float = 8.0, calls: int = 50) -> dict[str, Any]:
    late: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        exporter = Exporter(export_settings(Path(tmp), export_rabbitmq_url=URL), clock=LoopClock())
        await exporter.start()
        loop = asyncio.get_running_loop()

        async def call(n: int) -> None:
            record = make_record(f"lat-{n}-{export}")
            if export:
                exporter.call_started(record)
            start = loop.time() + n * 0.02 / calls
            ticks = int(seconds / 0.02)
            for k in range(1, ticks):
                due = start + k * 0.02
                await asyncio.sleep(max(0.0, due - loop.time()))
                late.append((loop.time() - due) * 1000)
                if export and k % 50 == 0:  # a final turn each second
                    turn = TurnRecord(
                        "caller", "speech", k * 20, k * 20 + 900, text="four five three two"
                    )
                    record.turns.append(turn)
                    exporter.turn_final(record, turn)
            if export:
                exporter.call_ended(finish(record))

        await asyncio.gather(*(call(n) for n in range(calls)))
        await exporter.aclose(timeout_s=30)
    late.sort()
    return {
        "export": export,
        "ticks": len(late),
        "p50_ms": round(statistics.median(late), 3),
        "p99_ms": round(late[int(len(late) * 0.99)], 3),
        "max_ms": round(late[-1], 3),
    }


async def main() -> None:
    results: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": "2 vCPU, CPU only; RabbitMQ 127.0.0.1",
        "throughput": [
            await throughput(1000, rabbitmq=True, jsonl=True),
            await throughput(1000, rabbitmq=True, jsonl=False),
            await throughput(1000, rabbitmq=False, jsonl=True),
        ],
        "call_latency": [await tick_lateness(False), await tick_lateness(True)],
    }
    print(json.dumps(results, indent=2))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
