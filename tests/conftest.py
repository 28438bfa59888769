"""Shared fixtures: the leaked-task check applies to every async test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

SPEECH_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"


def speech_dir() -> Path:
    """../shared/data/speech beside the checkout (CI lays shared/ beside it too)."""
    for candidate in (SPEECH_DIR, Path("/work/shared/data/speech")):
        if candidate.is_dir():
            return candidate
    pytest.skip("shared speech clips are not available")
    raise AssertionError("unreachable")


@pytest.fixture(autouse=True)
async def fail_on_leaked_tasks() -> AsyncIterator[None]:
    """Every task a test (or the code under test) started must be gone at its end."""
    before = set(asyncio.all_tasks())
    yield
    # Give cancelled tasks a few loop turns to unwind.
    for _ in range(50):
        leaked = {t for t in asyncio.all_tasks() - before if not t.done()}
        current = asyncio.current_task()
        if current is not None:
            leaked.discard(current)
        if not leaked:
            return
        await asyncio.sleep(0.02)
    names = sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked)
    pytest.fail(f"leaked tasks: {names}")
