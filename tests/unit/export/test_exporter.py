"""The Exporter without a broker: JSONL files, redaction, DTMF hold-back, outbox bound."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from callbot.clock import VirtualClock
from callbot.config import ConfigError, Settings
from callbot.export.exporter import Exporter
from callbot.export.metrics import ExportMetrics
from callbot.export.schema import errors
from callbot.record import TurnRecord
from tests.unit.export.helpers import (
    CARD,
    CARD_EN,
    PHONE,
    RRN,
    RRN_KO,
    export_settings,
    finish,
    make_record,
)

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens on port 1


def _lines(directory: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for p in sorted(directory.glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


async def _close(exporter: Exporter, clock: VirtualClock, timeout_s: float) -> bool:
    """aclose() waits on the virtual clock: move it past the deadline."""
    closing = asyncio.ensure_future(exporter.aclose(timeout_s=timeout_s))
    for _ in range(100):
        await asyncio.sleep(0.01)
        clock.advance(timeout_s + 0.01)
        if closing.done():
            break
    return await closing


async def test_jsonl_gets_every_event_redacted_and_valid(tmp_path: Path) -> None:
    clock = VirtualClock()
    exporter = Exporter(export_settings(tmp_path), clock=clock)
    await exporter.start()
    record = make_record()
    exporter.call_started(record)
    said = TurnRecord("caller", "speech", 5000, 9000, text=f"card {CARD_EN}, id {RRN_KO}")
    record.turns.append(said)
    exporter.turn_final(record, said)
    for key in PHONE:
        turn = TurnRecord("caller", "dtmf", 9000, 9100, dtmf=key)
        record.turns.append(turn)
        exporter.turn_final(record, turn)
    exporter.call_ended(finish(record))
    assert await exporter.aclose(timeout_s=5)
    lines = _lines(tmp_path / "jsonl")
    assert [line["event"] for line in lines] == ["call.started", "turn.final"] + [
        "turn.final"
    ] * 11 + ["call.ended"]
    assert [line["seq"] for line in lines] == list(range(14))
    assert all(errors(line) == [] for line in lines)
    text = (tmp_path / "jsonl").joinpath("events-2026-01-01.jsonl").read_text()
    for secret in (CARD, CARD_EN, PHONE, RRN, RRN_KO):
        assert secret not in text
    keyed = [line["turn"]["dtmf"] for line in lines if line["event"] == "turn.final"][1:]  # type: ignore[index]
    assert keyed == ["*"] * 11
    ended = lines[-1]["record"]
    assert [t["dtmf"] for t in ended["turns"][-11:]] == ["*"] * 11  # type: ignore[index]


async def test_jsonl_rotates_daily(tmp_path: Path) -> None:
    clock = VirtualClock()
    exporter = Exporter(export_settings(tmp_path), clock=clock)
    await exporter.start()
    exporter.call_started(make_record("a"))
    clock.advance(86400)
    exporter.call_started(make_record("b"))
    assert await exporter.aclose(timeout_s=5)
    names = sorted(p.name for p in (tmp_path / "jsonl").glob("*.jsonl"))
    assert names == ["events-2026-01-01.jsonl", "events-2026-01-02.jsonl"]


async def test_unconfirmed_events_stay_spooled_and_calls_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock()
    settings = export_settings(
        tmp_path, export_rabbitmq_url=DEAD_BROKER, export_spool_alarm_records=5
    )
    metrics = ExportMetrics()
    exporter = Exporter(settings, clock=clock, metrics=metrics)
    await exporter.start()
    with caplog.at_level(logging.WARNING):
        for i in range(8):
            exporter.call_started(make_record(f"c{i}"))
        await exporter._writer.flush()  # type: ignore[union-attr]
    assert exporter.spooled == 8
    assert metrics.registry.get_sample_value("callbot_export_spool_records") == 8
    assert any(r.getMessage() == "export spool growing" for r in caplog.records)
    assert not await _close(exporter, clock, 0.5)
    assert len(list((tmp_path / "spool").glob("seg-*.log"))) == 1  # kept for the next start


async def test_the_outbox_bound_sheds_then_drops(tmp_path: Path) -> None:
    clock = VirtualClock()
    settings = export_settings(
        tmp_path, export_rabbitmq_url=DEAD_BROKER, export_spool_max_bytes=65536
    )
    metrics = ExportMetrics()
    exporter = Exporter(settings, clock=clock, metrics=metrics)
    await exporter.start()
    for i in range(200):
        exporter.call_ended(finish(make_record(f"c{i}")))
        await exporter._writer.flush()  # type: ignore[union-attr]
    kept = exporter.spooled
    exporter.call_started(make_record("late"))
    await exporter._writer.flush()  # type: ignore[union-attr]
    assert exporter.spooled == kept < 200
    assert metrics.registry.get_sample_value(
        "callbot_export_dropped_total", {"cause": "spool_full"}
    )
    await _close(exporter, clock, 0)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="export_rabbitmq_url"):
        Settings.load(env={"CALLBOT_EXPORT_RABBITMQ_URL": "http://x"})
    with pytest.raises(ConfigError, match="export_jsonl_events"):
        Settings.load(env={"CALLBOT_EXPORT_JSONL_EVENTS": "call.ringing"})
    assert Settings.load(env={}).export_rabbitmq_url == ""
