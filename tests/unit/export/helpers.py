"""A call record with every field filled, as the later stages will fill them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callbot.config import Settings
from callbot.export.config import ExportSettings
from callbot.record import ActionRecord, CallRecord, TurnRecord

CARD = "4532015112830366"
CARD_EN = "four five three two zero one five one one two eight three zero three six six"
PHONE = "01012345678"
RRN_KO = "구 공 공 일 공 일 일 이 삼 사 오 육 칠"  # 900101-1234567
RRN = "9001011234567"
EMAIL = "kim.minsu@example.com"


def make_record(call_id: str = "call-1") -> CallRecord:
    record = CallRecord(
        call_id=call_id,
        tenant="acme",
        server_id="bot-1",
        media_mode="rtp",
        codec="PCMU",
        sample_rate_hz=8000,
        packet_ms=20,
        language="en",
        flow="lost_card",
        started_at="2026-11-26T07:10:00.120+00:00",
        flow_version="3f2a",
        caller_metadata={"ani_country": "KR", "queue": "cards"},
    )
    record.turns += [
        TurnRecord(
            "bot",
            "speech",
            0,
            1800,
            text="How can I help?",
            utterance_id="u1",
            language="en",
            barge_in={
                "at_ms": 1200,
                "planned_text": "How can I help?",
                "heard_text": "How can",
                "resumed": False,
            },
            latency_ms={"tts_first_audio": 62},
        ),
        TurnRecord(
            "caller",
            "speech",
            1300,
            3900,
            text="I lost my card",
            utterance_id="c1",
            language="en",
            confidence=0.91,
            words=[{"word": "I", "start_ms": 1300, "end_ms": 1400, "confidence": 0.9}],
            intent="lost_card",
            slots={"card_kind": "credit"},
            latency_ms={"speech_end_to_final": 310, "stt": 290, "nlu": 11, "total": 420},
        ),
        TurnRecord("caller", "dtmf", 4000, 4100, dtmf="1"),
    ]
    record.actions.append(ActionRecord("a1", "transfer", 5000, "completed", {"target": "agents"}))
    record.turns[1].action_ids.append("a1")
    record.holds.append({"start_ms": 4200, "end_ms": 4300})
    record.media.update(frames_in=250, frames_out=240)
    return record


def finish(record: CallRecord, outcome: str = "transferred") -> CallRecord:
    record.finish(datetime(2026, 11, 26, 7, 10, 6, tzinfo=UTC), 6000, outcome, "transferred", "")
    record.transfer_target = "agents" if outcome == "transferred" else ""
    return record


def export_settings(tmp: Path, **overrides: Any) -> ExportSettings:
    values: dict[str, Any] = {
        "export_jsonl_dir": str(tmp / "jsonl"),
        "export_jsonl_events": "call.started,turn.final,call.ended",
        "export_spool_dir": str(tmp / "spool"),
    }
    values.update(overrides)
    return ExportSettings.from_settings(Settings.load(env={}, overrides=values))
