"""The schemas describe what the code emits, and the documented example."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from callbot.export import events as ev
from callbot.export.schema import EVENT_SCHEMA, RECORD_SCHEMA, SCHEMA_DIR, errors
from callbot.record import CallRecord, TurnRecord
from tests.unit.export.helpers import finish, make_record

NOW = datetime(2026, 11, 26, 7, 10, 1, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[3] / "docs" / "call-record.md"


def test_a_full_record_validates() -> None:
    assert errors(finish(make_record()).to_dict(), RECORD_SCHEMA) == []


def test_every_outcome_validates() -> None:
    for outcome in ("completed", "transferred", "caller_hung_up", "bot_hung_up", "error"):
        assert errors(finish(make_record(), outcome).to_dict(), RECORD_SCHEMA) == []


def test_the_schema_names_every_dataclass_field() -> None:
    schema = json.loads((SCHEMA_DIR / RECORD_SCHEMA).read_text())
    assert set(schema["properties"]) == {f.name for f in dataclasses.fields(CallRecord)}
    turn = set(schema["$defs"]["turn"]["properties"])
    assert turn == {f.name for f in dataclasses.fields(TurnRecord)}


def test_events_validate_and_are_one_family() -> None:
    record = make_record()
    started = ev.call_started(record, 0, NOW)
    turn = ev.turn_final(record, record.turns[1], 1, 1, NOW)
    ended = ev.call_ended(finish(record), 2, NOW)
    for event in (started, turn, ended):
        assert errors(event.full_body(), EVENT_SCHEMA) == [], event.kind
        assert event.full_body()["event_id"] == event.event_id
    assert ended.full_body()["record"]["outcome"] == "transferred"
    assert ended.full_body()["record"]["transfer_target"] == "agents"


def test_invalid_documents_are_refused() -> None:
    record = finish(make_record()).to_dict()
    record["outcome"] = "lost"
    record["turns"][0]["speaker"] = "agent"
    found = errors(record, RECORD_SCHEMA)
    assert any("outcome" in e for e in found) and any("turns/0/speaker" in e for e in found)
    started = ev.call_started(make_record(), 0, NOW).body
    started["record"] = record
    assert errors(started, EVENT_SCHEMA)


def test_the_documented_examples_validate() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        doc = json.loads(block)
        name = EVENT_SCHEMA if doc.get("schema") == ev.EVENT_SCHEMA else RECORD_SCHEMA
        assert errors(doc, name) == [], block[:80]
