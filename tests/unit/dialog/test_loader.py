"""Flow loading and `flow check`: every error as file:line: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from callbot.dialog.cli import main
from callbot.dialog.errors import FlowError
from callbot.dialog.loader import load_flow, load_flow_with_issues

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"

GOOD = """\
flow: tiny
start: hello
steps:
  hello:
    say: "Hi {caller.name}"
    next: ask_pin
  ask_pin:
    ask: pin
    prompt: "Your PIN?"
    expect: {type: digits, min: 4, max: 4}
    sensitive: true
    next: bye
  bye:
    hangup: completed
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[str]:
    _, issues = load_flow_with_issues(path)
    return [str(i) for i in issues if i.severity == "error"]


def test_good_flow_loads_and_pins_a_version(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    flow = load_flow(path)
    assert flow.sensitive_slots == {"pin"}
    assert len(flow.version) == 64
    write(tmp_path, GOOD.replace("Your PIN?", "Your PIN, please?"))
    assert load_flow(path).version != flow.version


def test_examples_are_clean() -> None:
    for path in EXAMPLES.glob("*.yaml"):
        if not path.name.endswith(".test.yaml"):
            assert issues_of(path) == [], path


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("next: bye", "next: byee"), 12, "goes to unknown step 'byee'"),  # the next: line
        (("start: hello", "start: nowhere"), 2, "start step 'nowhere' does not exist"),
        (("Hi {caller.name}", "Hi {name}"), 5, "undefined slot 'name'"),
        (("Hi {caller.name}", "Hi {pin|fancy}"), 5, "unknown formatter 'fancy'"),
        (("Hi {caller.name}", "Hi {pin|date}"), 5, "cannot speak digits slot 'pin'"),
        (("type: digits", "type: digitz"), 10, "unknown input type 'digitz'"),
        (("    sensitive: true", "    sensitiv: true"), 11, "unknown key 'sensitiv'"),
        (("Hi {caller.name}", "Hi {caller.name"), 5, "unclosed '{'"),
        (("  bye:\n    hangup: completed", "  bye:\n    say: bye"), 13, "has no 'next'"),
    ],
)
def test_errors_point_at_the_line(
    tmp_path: Path, change: tuple[str, str], line: int, message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    errors = issues_of(path)
    assert any(e.startswith(f"{path}:{line}:") and message in e for e in errors), errors


def test_unreachable_loop_intents_hooks_and_yaml(tmp_path: Path) -> None:
    text = (
        GOOD
        + """\
  orphan:
    say: "never"
    next: orphan2
  orphan2:
    goto: orphan
  routed:
    branch:
      - if: "pin == '1234' and"
        goto: bye
      - else: bye
intents:
  empty_one: []
hooks:
  crm:
    webhook: https://evil.example.com/x
"""
    )
    path = write(tmp_path, text)
    errors = issues_of(path)
    joined = "\n".join(errors)
    assert f"{path}:15: step 'orphan' is unreachable" in joined
    assert "loop orphan -> orphan2 -> orphan never asks the caller anything" in joined
    assert f"{path}:22: condition" in joined and "column" in joined
    assert f"{path}:26: intent 'empty_one' has no examples or patterns" in joined
    assert f"{path}:29: webhook host 'evil.example.com' is not in allowed_hosts" in joined
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert len(info.value.issues) == len(errors)


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "flow: x\nsteps:\n  a: [1,\n")
    assert issues_of(path)[0].startswith(f"{path}:")
    path = write(
        tmp_path, GOOD.replace("  bye:\n", "  hello:\n    say: x\n    next: bye\n  bye:\n")
    )
    assert any(":13: duplicate key 'hello'" in e for e in issues_of(path))


def test_python_hook_function_is_checked_without_importing(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text("raise SystemExit('imported!')\ndef real(): pass\n")
    text = GOOD.replace("flow: tiny", "flow: tiny\nhooks:\n  h:\n    python: hooks.py:missing")
    errors = issues_of(write(tmp_path, text))
    assert any("no function 'missing'" in e for e in errors)


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, GOOD.replace("next: bye", "next: nope"), "bad.yaml")
    assert main(["check", str(good)]) == 0
    assert main(["check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:12: step 'ask_pin' goes to unknown step 'nope'" in out  # next: line
