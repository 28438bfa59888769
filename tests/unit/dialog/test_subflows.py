"""Sub-flows (`subflow:` / `return`), exact key lines in flow check, and barge-in repair."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from callbot.dialog.events import BargeIn, BotUtterance, FinalTranscript, Hangup, Output
from callbot.dialog.loader import load_flow, load_flow_with_issues
from callbot.dialog.manager import DialogueManager
from callbot.dialog.model import GotoStep, SubflowStep

NOW = dt.datetime(2026, 1, 10, 10, 0)

SUB = """\
flow: get_pin
uses: [who]
start: ask_pin
steps:
  ask_pin:
    ask: pin
    prompt: "{who}, your PIN?"
    expect: {type: digits, min: 4, max: 4}
    next: done
  done:
    return:
"""

MAIN = """\
flow: main
start: hello
steps:
  hello:
    set: {who: Kim}
    next: pin
  pin:
    subflow: sub.yaml
    next: bye
  bye:
    hangup: completed
    prompt: "Thanks, PIN {pin|digits}."
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues(path: Path) -> list[str]:
    return [str(i) for i in load_flow_with_issues(path)[1]]


def bots(outputs: list[Output]) -> list[str]:
    return [o.text for o in outputs if isinstance(o, BotUtterance)]


def test_subflow_is_inlined_with_shared_slots_and_returns(tmp_path: Path) -> None:
    sub = write(tmp_path, "sub.yaml", SUB)
    main = write(tmp_path, "main.yaml", MAIN)
    flow = load_flow(main)
    assert isinstance(flow.steps["pin"], SubflowStep) and flow.steps["pin"].entry == "pin/ask_pin"
    assert flow.steps["pin/done"] == GotoStep("pin/done", 10, "bye")
    assert str(sub.resolve()) in flow.source_files
    m = DialogueManager(flow, clock=lambda: NOW)
    assert bots(m.start()) == ["Kim, your PIN?"]
    assert m.waiting_for == "pin/ask_pin"
    out = m.handle(FinalTranscript("1 2 3 4", 0.9, "a"))
    assert bots(out) == ["Thanks, PIN one two three four."]
    assert m.slots["pin"] == "1234" and any(isinstance(o, Hangup) for o in out)


def test_subflow_files_are_in_the_version(tmp_path: Path) -> None:
    write(tmp_path, "sub.yaml", SUB)
    main = write(tmp_path, "main.yaml", MAIN)
    before = load_flow(main).version
    write(tmp_path, "sub.yaml", SUB.replace("your PIN?", "your PIN, please?"))
    assert load_flow(main).version != before


def test_a_subflow_run_on_its_own_ends_at_return(tmp_path: Path) -> None:
    flow = load_flow(write(tmp_path, "sub.yaml", SUB))
    m = DialogueManager(flow, clock=lambda: NOW)
    m.start()
    out = m.handle(FinalTranscript("1234", 0.9, "a"))
    assert m.ended and Hangup("a2", "completed") in out


def test_missing_subflow_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    main = write(tmp_path, "main.yaml", MAIN.replace("sub.yaml", "nope.yaml"))
    assert f"{main}:8: sub-flow file 'nope.yaml' not found" in issues(main)


def test_subflow_recursion_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sub.yaml",
        SUB.replace("    return:", "    subflow: main.yaml\n    next: x\n  x:\n    return:"),
    )
    main = write(tmp_path, "main.yaml", MAIN)
    found = issues(main)
    assert any("sub-flow recursion: main.yaml -> sub.yaml -> main.yaml" in e for e in found), found
    assert f"{main}:8: sub-flow 'sub.yaml' has errors (listed under its own file)" in found


def test_subflow_errors_are_reported_against_their_own_file(tmp_path: Path) -> None:
    sub = write(tmp_path, "sub.yaml", SUB.replace("next: done", "next: gone"))
    main = write(tmp_path, "main.yaml", MAIN)
    found = issues(main)
    assert f"{sub.resolve()}:9: step 'ask_pin' goes to unknown step 'gone'" in found
    assert f"{main}:8: sub-flow 'sub.yaml' has errors (listed under its own file)" in found


def test_subflow_uses_must_be_filled_by_the_caller(tmp_path: Path) -> None:
    write(tmp_path, "sub.yaml", SUB)
    main = write(tmp_path, "main.yaml", MAIN.replace("set: {who: Kim}", "set: {whom: Kim}"))
    assert f"{main}:8: sub-flow 'sub.yaml' uses slot 'who' that this flow never fills" in issues(
        main
    )


def test_slash_in_step_names_is_reserved(tmp_path: Path) -> None:
    write(tmp_path, "sub.yaml", SUB)
    main = write(
        tmp_path, "main.yaml", MAIN.replace("  bye:", "  b/ye:").replace("next: bye", "next: b/ye")
    )
    assert any("cannot contain '/'" in e for e in issues(main))


def test_check_errors_point_at_the_key_line(tmp_path: Path) -> None:
    text = """\
flow: keys
start: a
transfers: {agent: "queue:x"}
steps:
  a:
    branch:
      - if: "x == 1"
        goto: nowhere
      - else: b
  b:
    set: {x: 1}
    next: c
  c:
    transfer: agnet
    context: [x]
"""
    found = issues(write(tmp_path, "keys.yaml", text))
    path = tmp_path / "keys.yaml"
    assert f"{path}:8: step 'a' goes to unknown step 'nowhere'" in found
    assert f"{path}:14: transfer target 'agnet' is not listed under 'transfers'" in found
    found = issues(write(tmp_path, "keys.yaml", text.replace("else: b", "else: zz")))
    assert f"{path}:9: step 'a' goes to unknown step 'zz'" in found


ASK = """\
flow: barge
start: q
steps:
  q:
    ask: colour
    prompt: "Which colour would you like, red or blue?"
    expect: {type: choice, choices: {red: [red], blue: [blue]}}
    next: r
  r:
    branch:
      - if: "heard_text is set"
        goto: heard
      - else: done
  heard:
    say: "You cut me off after '{heard_text}'."
    next: done
  done:
    hangup: completed
"""


def test_after_a_barge_in_a_no_match_does_not_repeat_the_prompt(tmp_path: Path) -> None:
    m = DialogueManager(load_flow(write(tmp_path, "b.yaml", ASK)), clock=lambda: NOW)
    prompt = [o for o in m.start() if isinstance(o, BotUtterance)][-1]
    m.handle(BargeIn(prompt.id, "Which colour"))
    out = m.handle(FinalTranscript("green", 0.9, "a"))
    assert bots(out) == ["Sorry, I didn't get that."]
    assert bots(m.handle(FinalTranscript("can you repeat that", 0.9, "b")))[-1] == prompt.text
    # No barge-in this time: the next no-match asks the question again in full.
    out = m.handle(FinalTranscript("green", 0.9, "c"))
    assert bots(out) == ["Sorry, I didn't get that.", prompt.text]


def test_without_a_barge_in_the_prompt_is_repeated(tmp_path: Path) -> None:
    m = DialogueManager(load_flow(write(tmp_path, "b.yaml", ASK)), clock=lambda: NOW)
    m.start()
    out = m.handle(FinalTranscript("green", 0.9, "a"))
    assert bots(out) == ["Sorry, I didn't get that.", "Which colour would you like, red or blue?"]


def test_heard_text_reaches_conditions_and_templates(tmp_path: Path) -> None:
    m = DialogueManager(load_flow(write(tmp_path, "b.yaml", ASK)), clock=lambda: NOW)
    prompt = [o for o in m.start() if isinstance(o, BotUtterance)][-1]
    m.handle(BargeIn(prompt.id, "Which colour"))
    out = m.handle(FinalTranscript("red", 0.9, "a"))
    assert bots(out) == ["You cut me off after 'Which colour'."]
    m2 = DialogueManager(load_flow(tmp_path / "b.yaml"), clock=lambda: NOW)
    m2.start()
    assert bots(m2.handle(FinalTranscript("red", 0.9, "a"))) == []
