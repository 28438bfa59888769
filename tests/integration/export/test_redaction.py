"""PII spoken or typed in a call appears in no export (RabbitMQ, JSONL) and no log line."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from callbot.clock import LoopClock
from callbot.export.exporter import Exporter
from callbot.logs import JsonFormatter
from callbot.record import TurnRecord
from callbot.redact import RedactingFilter
from tests.integration.export.broker import URL, bound_queue, drain, require_broker
from tests.unit.export.helpers import (
    CARD,
    CARD_EN,
    EMAIL,
    PHONE,
    RRN,
    RRN_KO,
    export_settings,
    finish,
    make_record,
)

pytestmark = pytest.mark.integration

CARD_KO = "사 오 삼 이 공 일 오 일 일 이 팔 삼 공 삼 육 육"
SECRETS = [CARD, CARD_EN, CARD_KO, PHONE, "010-1234-5678", RRN, "900101-1234567", RRN_KO, EMAIL]
# Fragments that would betray a partial leak.
FRAGMENTS = ["4532", "0366", "1234-5678", "12345678", "900101", "1234567", "kim.minsu"]


async def test_no_personal_data_leaves_the_process(tmp_path: Path) -> None:
    await require_broker()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    exporter = Exporter(export_settings(tmp_path, export_rabbitmq_url=URL), clock=LoopClock())
    handler.addFilter(RedactingFilter(exporter.redactor))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        async with bound_queue() as queue:
            await exporter.start()
            record = make_record("pii-1")
            record.caller_metadata["ani"] = "010-1234-5678"
            exporter.call_started(record)
            spoken = [
                f"my card number is {CARD_EN}",
                f"카드 번호는 {CARD_KO} 입니다",
                "전화번호는 공일공 일이삼사 오육칠팔 이에요",
                f"주민등록번호는 {RRN_KO} 입니다",
                f"typed: {CARD}, 010-1234-5678, 900101-1234567, {EMAIL}",
            ]
            for text in spoken:
                turn = TurnRecord("caller", "speech", 0, 1000, text=text, slots={"said": text})
                record.turns.append(turn)
                exporter.turn_final(record, turn)
                logging.getLogger("callbot.test").info("caller said %s", text, extra={"text": text})
            for key in CARD + "#" + PHONE + "#":  # keyed on the phone's keypad
                turn = TurnRecord("caller", "dtmf", 2000, 2100, dtmf=key)
                record.turns.append(turn)
                exporter.turn_final(record, turn)
            exporter.call_ended(finish(record))
            assert await exporter.aclose(timeout_s=20)
            messages = await drain(queue, 2 + len(spoken) + len(CARD) + len(PHONE) + 2)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    exported = [m.body.decode() for m in messages]
    exported += [p.read_text() for p in (tmp_path / "jsonl").glob("*.jsonl")]
    logs = stream.getvalue().splitlines()
    assert len(exported) > 20 and len(logs) >= len(spoken)
    # Random hex ids (event ids, message ids) may contain a fragment by chance.
    hex_ids = re.compile(r"[0-9a-f]{32}")
    for line in exported + logs:
        text = hex_ids.sub("<id>", line)
        for secret in SECRETS + FRAGMENTS:
            assert secret not in text, (secret, line[:200])
    assert any("[CARD]" in line for line in exported) and any("[RRN]" in line for line in logs)
    last = json.loads(exported[-1].splitlines()[-1])
    keyed = "".join(t["dtmf"] for t in last["record"]["turns"][-29:])
    assert keyed == "*" * 16 + "#" + "*" * 11 + "#"
