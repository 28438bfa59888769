"""The example flows' conversation tests, run as `callbot flow test` would run them."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbot.dialog.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"


def test_example_conversations_pass_with_patterns_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", "--embedder", "none", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "PASS" in out


def test_a_wrong_expectation_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = tmp_path / "bad.test.yaml"
    test.write_text(
        f"flow: {EXAMPLES / 'lost_card_en.yaml'}\ntests:\n  - name: wrong\n    turns:\n"
        "      - user: I lost my card\n      - bot: something the bot never says\n",
        encoding="utf-8",
    )
    assert main(["test", "--embedder", "none", str(test)]) == 1
    out = capsys.readouterr().out
    assert f"{test}:6: expected a bot line containing" in out and "1 failed" in out
