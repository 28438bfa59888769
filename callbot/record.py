"""The call record: one versioned document per call, appended to as the call runs.

docs/call-record.md documents every field. Later stages fill in turns
(transcripts, bot speech, barge-ins, latency); the shape stays the same.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = "callbot.call_record"
SCHEMA_VERSION = 1

OUTCOMES = ("completed", "transferred", "caller_hung_up", "bot_hung_up", "error")


@dataclass
class TurnRecord:
    """One thing said or keyed in the call, on the media clock."""

    speaker: str  # "caller" | "bot"
    kind: str  # "speech" | "dtmf" | "event"
    start_ms: int
    end_ms: int
    text: str = ""
    dtmf: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    # Filled by the speaking/listening stages; schemas/call-record.v1.json documents each.
    utterance_id: str = ""
    language: str = ""
    confidence: float | None = None  # recogniser confidence of the final, 0..1
    words: list[dict[str, Any]] = field(default_factory=list)  # word, start_ms, end_ms, confidence
    intent: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    barge_in: dict[str, Any] | None = None  # at_ms, planned_text, heard_text, resumed
    action_ids: list[str] = field(default_factory=list)
    latency_ms: dict[str, int] = field(default_factory=dict)  # stage -> milliseconds


@dataclass
class ActionRecord:
    action_id: str
    kind: str  # "transfer" | "hangup" | "send_dtmf"
    media_time_ms: int
    status: str = "pending"  # then the ActionResult status
    details: dict[str, Any] = field(default_factory=dict)


class TurnList(list[TurnRecord]):
    """A record's turns that tell an observer about each new one (live `turn.final`)."""

    def __init__(
        self,
        turns: Iterable[TurnRecord] = (),
        on_add: Callable[[TurnRecord], None] | None = None,
    ) -> None:
        super().__init__(turns)
        self.on_add = on_add

    def append(self, turn: TurnRecord) -> None:
        super().append(turn)
        if self.on_add is not None:
            self.on_add(turn)


@dataclass
class CallRecord:
    """Everything analytics gets about one call."""

    call_id: str
    tenant: str
    server_id: str
    media_mode: str
    codec: str
    sample_rate_hz: int
    packet_ms: int
    language: str
    flow: str
    started_at: str
    flow_version: str = ""
    caller_metadata: dict[str, str] = field(default_factory=dict)
    ended_at: str = ""
    media_duration_ms: int = 0
    outcome: str = ""
    end_reason: str = ""
    end_detail: str = ""
    recording: str = ""
    turns: list[TurnRecord] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    holds: list[dict[str, int]] = field(default_factory=list)
    media: dict[str, int] = field(default_factory=dict)
    transfer_target: str = ""  # where the call went when outcome is "transferred"
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def finish(
        self, ended_at: datetime, media_ms: int, outcome: str, reason: str, detail: str
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.ended_at = ended_at.isoformat(timespec="milliseconds")
        self.media_duration_ms = media_ms
        self.outcome = outcome
        self.end_reason = reason
        self.end_detail = detail

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


class JsonlRecordWriter:
    """Appends records to one JSONL file a day; each write is fsynced off the loop."""

    def __init__(
        self,
        directory: str | Path,
        redact: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self._dir = Path(directory)
        self._redact = redact
        self._lock = asyncio.Lock()

    def path_for(self, day: str) -> Path:
        return self._dir / f"calls-{day}.jsonl"

    async def write(self, record: CallRecord) -> Path:
        day = (record.ended_at or record.started_at)[:10]
        path = self.path_for(day)
        data = record.to_dict()
        if self._redact is not None:
            data = self._redact(data)
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        async with self._lock:
            await asyncio.to_thread(_append_fsync, path, line)
        return path


def _append_fsync(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
