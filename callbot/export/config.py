"""The exporters' settings, checked once at start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callbot.export.events import EVENT_KINDS
from callbot.redact import KINDS


class ExportConfigError(ValueError):
    """An export_* or redact_* setting is invalid."""


def _kinds(name: str, csv: str, known: tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(k.strip() for k in csv.split(",") if k.strip())
    unknown = chosen - set(known)
    if unknown:
        raise ExportConfigError(f"{name}: unknown {sorted(unknown)}; known: {', '.join(known)}")
    return chosen


@dataclass(frozen=True)
class ExportSettings:
    jsonl_dir: Path | None
    jsonl_events: frozenset[str]
    rabbitmq_url: str
    rabbitmq_exchange: str
    rabbitmq_queue: str
    rabbitmq_events: frozenset[str]
    spool_dir: Path
    spool_max_bytes: int
    spool_alarm_records: int
    retry_max_s: float
    flush_timeout_s: float
    redact_kinds: frozenset[str]
    redact_logs: bool

    @classmethod
    def from_settings(cls, s: Any) -> ExportSettings:
        """From `callbot.config.Settings` (typed Any: config imports this module)."""
        if s.export_rabbitmq_url and not s.export_rabbitmq_url.startswith(("amqp://", "amqps://")):
            raise ExportConfigError("export_rabbitmq_url must start with amqp:// or amqps://")
        if not s.export_rabbitmq_exchange:
            raise ExportConfigError("export_rabbitmq_exchange must not be empty")
        if s.export_spool_max_bytes < 64 * 1024:
            raise ExportConfigError("export_spool_max_bytes must be >= 65536")
        if s.export_spool_alarm_records < 1:
            raise ExportConfigError("export_spool_alarm_records must be >= 1")
        if s.export_retry_max_s <= 0 or s.export_flush_timeout_s < 0:
            raise ExportConfigError("export_retry_max_s must be > 0, export_flush_timeout_s >= 0")
        return cls(
            jsonl_dir=Path(s.export_jsonl_dir) if s.export_jsonl_dir else None,
            jsonl_events=_kinds("export_jsonl_events", s.export_jsonl_events, EVENT_KINDS),
            rabbitmq_url=s.export_rabbitmq_url,
            rabbitmq_exchange=s.export_rabbitmq_exchange,
            rabbitmq_queue=s.export_rabbitmq_queue,
            rabbitmq_events=_kinds("export_rabbitmq_events", s.export_rabbitmq_events, EVENT_KINDS),
            spool_dir=Path(s.export_spool_dir),
            spool_max_bytes=s.export_spool_max_bytes,
            spool_alarm_records=s.export_spool_alarm_records,
            retry_max_s=s.export_retry_max_s,
            flush_timeout_s=s.export_flush_timeout_s,
            redact_kinds=_kinds("redact_kinds", s.redact_kinds, KINDS),
            redact_logs=s.redact_logs,
        )
