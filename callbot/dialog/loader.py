"""Loading a flow file: YAML with lines -> model, then the semantic checks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callbot.dialog.builtins import BUILTIN_INTENTS, DEFAULT_GLOBAL_INTENTS
from callbot.dialog.checks import check_flow
from callbot.dialog.errors import FlowError, FlowIssue
from callbot.dialog.inputs import LANGUAGES, InputType
from callbot.dialog.loader_steps import build_step
from callbot.dialog.model import AskStep, Flow, HookDef, IntentDef, SetStep, Settings, Step
from callbot.dialog.subflows import inline_subflows
from callbot.dialog.yamlsrc import LineDict, LineList, YamlSyntaxError, load_yaml

_TOP_KEYS = {"flow", "language", "languages", "start", "settings", "intents", "global_intents",
             "hooks", "allowed_hosts", "transfers", "steps", "description", "uses"}  # fmt: skip
_SETTINGS_KEYS = {"no_input_retries", "no_match_retries", "escalate", "min_confidence",
                  "intent_threshold", "intent_margin"}  # fmt: skip


class _Collector:
    def __init__(self, path: str) -> None:
        self.path = path
        self.issues: list[FlowIssue] = []

    def __call__(self, line: int, message: str) -> None:
        self.issues.append(FlowIssue(self.path, line, message))

    def warn(self, line: int, message: str) -> None:
        self.issues.append(FlowIssue(self.path, line, message, "warning"))


def flow_version(files: list[Path]) -> str:
    """sha256 over the flow file, its hook and sub-flow files (path-independent, order-stable)."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda p: p.name):
        data = f.read_bytes() if f.is_file() else b""
        h.update(f.name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def load_flow(path: str | Path) -> Flow:
    """Load and check a flow; raise FlowError listing every error (warnings are kept)."""
    flow, issues = load_flow_with_issues(path)
    errors = [i for i in issues if i.severity == "error"]
    if errors or flow is None:
        raise FlowError(errors)
    return flow


def load_flow_with_issues(path: str | Path) -> tuple[Flow | None, list[FlowIssue]]:
    """The flow (None when it cannot be built) and every error and warning, sub-flows' too."""
    flow, issues = _load(Path(path), str(path), ())
    return flow, sorted(set(issues), key=lambda i: (i.path != str(path), i.path, i.line, i.message))


def _load_sub(path: Path, stack: tuple[Path, ...]) -> tuple[Flow | None, list[FlowIssue]]:
    return _load(path, str(path), stack)


def _load(p: Path, path: str, stack: tuple[Path, ...]) -> tuple[Flow | None, list[FlowIssue]]:
    report = _Collector(str(path))
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        report(0, f"cannot read: {exc.strerror}")
        return None, report.issues
    try:
        doc = load_yaml(text)
    except YamlSyntaxError as exc:
        report(exc.line, exc.message)
        return None, report.issues
    if not isinstance(doc, LineDict):
        report(1, "a flow file is a mapping with 'flow', 'start' and 'steps'")
        return None, report.issues
    flow = _build(doc, p, report)
    if flow is not None:
        flow, sub_issues = inline_subflows(flow, (*stack, p.resolve()), _load_sub, report)
        report.issues.extend(sub_issues)
        flow = replace(flow, version=flow_version([Path(f) for f in flow.source_files]))
        for issue in check_flow(flow, doc, report):
            report.issues.append(issue)
    return flow, report.issues


def _build(doc: LineDict, path: Path, report: _Collector) -> Flow | None:
    for key in doc:
        if key not in _TOP_KEYS:
            report(doc.line_of(key), f"unknown top-level key {key!r}")
    for key in ("flow", "start", "steps"):
        if key not in doc:
            report(doc.line, f"missing top-level key {key!r}")
    language = str(doc.get("language", "en"))
    if language not in LANGUAGES:
        report(doc.line_of("language"), f"language must be one of {', '.join(LANGUAGES)}")
    languages = doc.get("languages", [language])
    if not isinstance(languages, list) or any(lang not in LANGUAGES for lang in languages):
        report(doc.line_of("languages"), f"languages must be a list of {', '.join(LANGUAGES)}")
        languages = [language]
    steps_raw = doc.get("steps")
    steps: dict[str, Step] = {}
    if isinstance(steps_raw, LineDict):
        for name, body in steps_raw.items():
            if not isinstance(body, LineDict):
                report(steps_raw.line_of(name), f"step {name!r} must be a mapping")
                continue
            # Errors about a whole step point at its name.
            body.line = steps_raw.line_of(name)
            if "/" in name:
                report(body.line, f"step name {name!r} cannot contain '/' (sub-flow steps do)")
            step = build_step(name, body, report)
            if step is not None:
                steps[name] = step
    elif steps_raw is not None:
        report(doc.line_of("steps"), "'steps' must map step names to steps")
    hooks, hook_files = _hooks(doc, path, report)
    slot_types: dict[str, InputType] = {}
    sensitive: set[str] = set()
    for step in steps.values():
        if isinstance(step, AskStep):
            slot_types.setdefault(step.slot, step.expect.type)
            if step.sensitive:
                sensitive.add(step.slot)
    for step in steps.values():
        if isinstance(step, SetStep):
            for slot, value in step.values.items():
                if isinstance(value, bool):
                    slot_types.setdefault(slot, InputType.YES_NO)
                elif isinstance(value, int):
                    slot_types.setdefault(slot, InputType.NUMBER)
    transfers = doc.get("transfers", {})
    if not isinstance(transfers, dict):
        report(doc.line_of("transfers"), "'transfers' must map names to switch addresses")
        transfers = {}
    uses = doc.get("uses", [])
    if not isinstance(uses, list) or not all(isinstance(u, str) for u in uses):
        report(doc.line_of("uses"), "'uses' must list the slot names a sub-flow reads")
        uses = []
    global_intents = doc.get("global_intents", {i: None for i in DEFAULT_GLOBAL_INTENTS})
    if not isinstance(global_intents, dict):
        report(doc.line_of("global_intents"), "'global_intents' must map intent -> step")
        global_intents = {}
    return Flow(
        name=str(doc.get("flow", path.stem)),
        path=str(path),
        language=language,
        languages=tuple(str(lang) for lang in languages),
        start=str(doc.get("start", "")),
        steps=steps,
        intents=_intents(doc, report),
        global_intents={
            str(k): str(v) if v is not None else _default_target(str(k))
            for k, v in global_intents.items()
        },
        hooks=hooks,
        allowed_hosts=tuple(str(h) for h in doc.get("allowed_hosts", []) or []),
        transfers={str(k): str(v) for k, v in transfers.items()},
        settings=_settings(doc.get("settings"), doc.line_of("settings"), report),
        slot_types=slot_types,
        sensitive_slots=frozenset(sensitive),
        version=flow_version([path, *hook_files]),
        source_files=tuple(str(f) for f in [path, *hook_files]),
        uses=tuple(uses),
    )


def _default_target(intent: str) -> str:
    # Built-in behaviours: "repeat" replays the last prompt; the others end politely.
    return {"repeat": "repeat", "goodbye": "goodbye", "agent": "escalate"}.get(intent, intent)


def _settings(raw: Any, line: int, report: _Collector) -> Settings:
    if raw is None:
        return Settings()
    if not isinstance(raw, LineDict):
        report(line, "'settings' must be a mapping")
        return Settings()
    for key in raw:
        if key not in _SETTINGS_KEYS:
            report(raw.line_of(key), f"unknown setting {key!r}")
    base = Settings()
    return Settings(
        no_input_retries=int(raw.get("no_input_retries", base.no_input_retries)),
        no_match_retries=int(raw.get("no_match_retries", base.no_match_retries)),
        escalate=raw.get("escalate"),
        min_confidence=float(raw.get("min_confidence", base.min_confidence)),
        intent_threshold=raw.get("intent_threshold"),
        intent_margin=raw.get("intent_margin"),
    )


def _intents(doc: LineDict, report: _Collector) -> dict[str, IntentDef]:
    out = {
        name: IntentDef(name, ex, tuple(re.compile(p, re.I) for p in pats))
        for name, (ex, pats) in BUILTIN_INTENTS.items()
    }
    raw = doc.get("intents")
    if raw is None:
        return out
    if not isinstance(raw, LineDict):
        report(doc.line_of("intents"), "'intents' must map intent names to examples")
        return out
    for name, body in raw.items():
        at = raw.line_of(name)
        examples: list[str] = []
        patterns: list[re.Pattern[str]] = []
        if isinstance(body, LineList):
            examples = [str(e) for e in body]
        elif isinstance(body, LineDict):
            examples = [str(e) for e in body.get("examples", []) or []]
            pats = body.get("patterns", []) or []
            for i, pat in enumerate(pats):
                try:
                    patterns.append(re.compile(str(pat), re.I))
                except re.error as exc:
                    report(pats.line_of(i) if isinstance(pats, LineList) else at,
                           f"intent {name!r}: bad pattern: {exc}")  # fmt: skip
        elif body is not None:
            report(at, f"intent {name!r} must be a list of examples or {{examples, patterns}}")
        out[name] = IntentDef(name, tuple(examples), tuple(patterns), at)
    return out


def _hooks(doc: LineDict, path: Path, report: _Collector) -> tuple[dict[str, HookDef], list[Path]]:
    raw = doc.get("hooks", {})
    hooks: dict[str, HookDef] = {}
    files: list[Path] = []
    allowed = [str(h).lower() for h in doc.get("allowed_hosts", []) or []]
    if not isinstance(raw, LineDict):
        if raw:
            report(doc.line_of("hooks"), "'hooks' must map hook names to definitions")
        return hooks, files
    for name, body in raw.items():
        at = raw.line_of(name)
        if not isinstance(body, LineDict) or ("python" in body) == ("webhook" in body):
            report(
                at,
                f"hook {name!r} needs exactly one of 'python: file.py:function' or 'webhook: URL'",
            )
            continue
        timeout = body.get("timeout_ms", 3000)
        if not isinstance(timeout, int) or timeout <= 0:
            report(body.line_of("timeout_ms"), "timeout_ms must be a positive integer")
            timeout = 3000
        if "python" in body:
            spec = str(body["python"])
            file_part, _, func = spec.rpartition(":")
            hook_file = (path.parent / file_part).resolve()
            if not file_part or not func.isidentifier():
                report(body.line_of("python"), "python hook must be 'file.py:function'")
                continue
            if not hook_file.is_file():
                report(body.line_of("python"), f"hook file {file_part!r} not found")
            elif hook_file not in files:
                files.append(hook_file)
            hooks[name] = HookDef(name, "python", f"{hook_file}:{func}", timeout, at)
        else:
            url = str(body["webhook"])
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                report(body.line_of("webhook"), f"webhook {name!r} needs an http(s) URL")
            elif parts.hostname.lower() not in allowed:
                report(body.line_of("webhook"),
                       f"webhook host {parts.hostname!r} is not in allowed_hosts")  # fmt: skip
            hooks[name] = HookDef(name, "webhook", url, timeout, at)
    return hooks, files
