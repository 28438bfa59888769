"""Export events: `call.started`, `turn.final`, `call.ended` (schemas/call-event.v1.json)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from callbot.record import CallRecord, TurnRecord

EVENT_SCHEMA = "callbot.call_event"
EVENT_SCHEMA_VERSION = 1
CALL_STARTED = "call.started"
TURN_FINAL = "turn.final"
CALL_ENDED = "call.ended"
EVENT_KINDS = (CALL_STARTED, TURN_FINAL, CALL_ENDED)

# The record's scalar fields that call.started and turn.final carry as `call`.
HEADER_FIELDS = (
    "call_id", "tenant", "server_id", "media_mode", "codec", "sample_rate_hz", "packet_ms",
    "language", "flow", "flow_version", "caller_metadata", "started_at",
)  # fmt: skip
# Never redacted: ids, times and enumerations (a call id is not caller speech).
STRUCTURAL_KEYS = frozenset(
    {
        "schema", "event", "event_id", "call_id", "server_id", "emitted_at", "started_at",
        "ended_at", "media_mode", "codec", "outcome", "end_reason", "speaker", "kind",
        "action_id", "action_ids", "utterance_id", "language", "flow", "flow_version", "status",
    }
)  # fmt: skip


@dataclass(frozen=True)
class ExportEvent:
    """One message to export; `body` is the JSON document, `event_id` its message id.

    `late` adds the parts that are costly to build (the whole call record): the
    writer thread calls it, so the event loop never spends its time there.
    """

    kind: str
    call_id: str
    event_id: str
    seq: int
    body: dict[str, Any]
    late: Callable[[], dict[str, Any]] | None = None

    def full_body(self) -> dict[str, Any]:
        return {**self.body, **self.late()} if self.late is not None else self.body

    def to_json(self) -> str:
        return json.dumps(self.full_body(), ensure_ascii=False, separators=(",", ":"))


def _envelope(kind: str, record: CallRecord, seq: int, now: datetime) -> dict[str, Any]:
    return {
        "schema": EVENT_SCHEMA,
        "schema_version": EVENT_SCHEMA_VERSION,
        "event": kind,
        "event_id": uuid.uuid4().hex,
        "call_id": record.call_id,
        "seq": seq,
        "server_id": record.server_id,
        "emitted_at": now.isoformat(timespec="milliseconds"),
    }


def _event(body: dict[str, Any], late: Callable[[], dict[str, Any]] | None = None) -> ExportEvent:
    return ExportEvent(body["event"], body["call_id"], body["event_id"], body["seq"], body, late)


def call_header(record: CallRecord) -> dict[str, Any]:
    return {name: _copy(getattr(record, name)) for name in HEADER_FIELDS}


def call_started(record: CallRecord, seq: int, now: datetime) -> ExportEvent:
    body = _envelope(CALL_STARTED, record, seq, now)
    body["call"] = call_header(record)
    return _event(body)


def turn_final(
    record: CallRecord, turn: TurnRecord, index: int, seq: int, now: datetime
) -> ExportEvent:
    body = _envelope(TURN_FINAL, record, seq, now)
    body["call"] = call_header(record)
    body["turn_index"] = index
    body["turn"] = asdict(turn)
    return _event(body)


def call_ended(record: CallRecord, seq: int, now: datetime) -> ExportEvent:
    """The record is serialised later, on the writer thread: the call has ended."""
    return _event(_envelope(CALL_ENDED, record, seq, now), lambda: {"record": record.to_dict()})


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value
