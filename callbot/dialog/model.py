"""The flow model: what a loaded, checked flow file is. Immutable; shared by all calls."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from callbot.dialog.conditions import Condition
from callbot.dialog.inputs import ExpectSpec, InputType, SlotValue
from callbot.dialog.templates import Template


@dataclass(frozen=True)
class Prompt:
    """A prompt in one or several languages; key '*' is a prompt for any language."""

    texts: Mapping[str, Template]
    line: int = 0

    def for_language(self, language: str) -> Template:
        if language in self.texts:
            return self.texts[language]
        if "*" in self.texts:
            return self.texts["*"]
        return next(iter(self.texts.values()))


@dataclass(frozen=True)
class TurnOverrides:
    """Per-step changes to the turn-taking derived from the input type."""

    silence_ms: int | None = None
    no_input_ms: int | None = None
    early_end: bool | None = None
    interruptible: bool | None = None
    stt_hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepBase:
    name: str
    line: int  # the line of the step's name
    # The line of each key of the step's mapping, so checks can point at `next:` itself.
    key_lines: Mapping[str, int] = field(
        default_factory=dict, kw_only=True, compare=False, repr=False
    )

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


@dataclass(frozen=True)
class SayStep(StepBase):
    prompt: Prompt
    next: str | None
    interruptible: bool = True


@dataclass(frozen=True)
class AskStep(StepBase):
    slot: str
    prompt: Prompt
    expect: ExpectSpec
    next: str | None
    sensitive: bool = False
    reprompt: Prompt | None = None
    no_input: Prompt | None = None
    no_match: Prompt | None = None
    confirm: str | None = None
    on_no: str | None = None
    turn: TurnOverrides = field(default_factory=TurnOverrides)


@dataclass(frozen=True)
class BranchCase:
    condition: Condition
    target: str
    line: int
    target_line: int = 0  # the line of its `goto:`


@dataclass(frozen=True)
class BranchStep(StepBase):
    cases: tuple[BranchCase, ...]
    otherwise: str | None


@dataclass(frozen=True)
class SetStep(StepBase):
    values: Mapping[str, SlotValue | None]
    next: str | None


@dataclass(frozen=True)
class CallStep(StepBase):
    hook: str
    args: Mapping[str, str]  # argument name -> slot name
    save: Mapping[str, str]  # slot name -> result key
    on_error: str | None
    next: str | None
    timeout_ms: int | None = None


@dataclass(frozen=True)
class TransferStep(StepBase):
    target: str
    context: tuple[str, ...]
    prompt: Prompt | None = None


@dataclass(frozen=True)
class HangupStep(StepBase):
    reason: str
    prompt: Prompt | None = None


@dataclass(frozen=True)
class SendDtmfStep(StepBase):
    digits: str
    next: str | None


@dataclass(frozen=True)
class LanguageStep(StepBase):
    language: str
    next: str | None


@dataclass(frozen=True)
class GotoStep(StepBase):
    target: str


@dataclass(frozen=True)
class SubflowStep(StepBase):
    """``subflow: file.yaml``: run another flow file's steps, then go on to ``next``.

    The loader inlines the sub-flow's steps as ``<this step>/<their name>``;
    ``entry`` is the inlined start step ("" until inlined).
    """

    file: str
    next: str | None
    entry: str = ""


@dataclass(frozen=True)
class ReturnStep(StepBase):
    """``return:`` ends a sub-flow; inlined, it becomes a goto to the calling step's ``next``.

    Reached in a flow that runs on its own, it ends the call (hang-up "completed").
    """


Step = (
    SayStep
    | AskStep
    | BranchStep
    | SetStep
    | CallStep
    | TransferStep
    | HangupStep
    | SendDtmfStep
    | LanguageStep
    | GotoStep
    | SubflowStep
    | ReturnStep
)


@dataclass(frozen=True)
class IntentDef:
    name: str
    examples: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    line: int = 0


@dataclass(frozen=True)
class HookDef:
    """A Python hook (``python: file.py:function``) or a webhook (``webhook: https://…``)."""

    name: str
    kind: str  # "python" | "webhook"
    target: str  # absolute file path + ":" + function, or URL
    timeout_ms: int
    line: int = 0


@dataclass(frozen=True)
class Settings:
    no_input_retries: int = 2
    no_match_retries: int = 2
    escalate: str | None = None  # step to go to after the retries; None = polite hang-up
    min_confidence: float = 0.3
    intent_threshold: float | None = None  # None = the calibrated default
    intent_margin: float | None = None


@dataclass(frozen=True)
class Flow:
    name: str
    path: str
    language: str
    languages: tuple[str, ...]
    start: str
    steps: Mapping[str, Step]
    intents: Mapping[str, IntentDef]
    global_intents: Mapping[str, str]  # intent -> step name or "repeat"
    hooks: Mapping[str, HookDef]
    allowed_hosts: tuple[str, ...]
    transfers: Mapping[str, str]  # target name -> address for the switch
    settings: Settings
    slot_types: Mapping[str, InputType]
    sensitive_slots: frozenset[str]
    version: str  # sha256 of the flow file, its hook files and its sub-flows' files
    source_files: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()  # slots a sub-flow reads that its caller must fill

    def ask_step_for(self, slot: str) -> str | None:
        """The first step that asks for ``slot`` (where a correction goes back to)."""
        for step in self.steps.values():
            if isinstance(step, AskStep) and step.slot == slot:
                return step.name
        return None
