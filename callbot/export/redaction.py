"""Redaction of export events: every string, and card/phone numbers keyed over DTMF turns."""

from __future__ import annotations

from typing import Any

from callbot.export.events import STRUCTURAL_KEYS
from callbot.redact import Redactor


def redact_body(redactor: Redactor, body: dict[str, Any]) -> dict[str, Any]:
    """A redacted copy of an event body (ids, times and enumerations are kept)."""
    if not redactor.enabled:
        return body
    out: dict[str, Any] = redactor.value(body, STRUCTURAL_KEYS)
    record = out.get("record")
    if isinstance(record, dict) and isinstance(record.get("turns"), list):
        mask_dtmf_runs(redactor, record["turns"])
    return out


def mask_dtmf_runs(redactor: Redactor, turns: list[dict[str, Any]]) -> None:
    """Consecutive DTMF turns read as one number; its digits become '*' in place."""
    run: list[dict[str, Any]] = []
    for turn in [*turns, None]:
        if turn is not None and turn.get("kind") == "dtmf":
            run.append(turn)
            continue
        if run:
            _mask_run(redactor, run)
            run = []


def _mask_run(redactor: Redactor, run: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    owners: list[int] = []
    for i, turn in enumerate(run):
        for ch in str(turn.get("dtmf", "")):
            keys.append(ch)
            owners.append(i)
    masked = redactor.digits(keys)
    if masked == keys:
        return
    rebuilt = [""] * len(run)
    for owner, ch in zip(owners, masked, strict=True):
        rebuilt[owner] += ch
    for turn, dtmf in zip(run, rebuilt, strict=True):
        turn["dtmf"] = dtmf
