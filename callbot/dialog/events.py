"""What goes into the manager (events) and what comes out (outputs).

Outputs that can carry personal data have a masked view (``record()``) for
transcripts, the call record, gRPC events and logs; the unmasked fields are
for the one consumer that needs them (TTS for speech, the hook runner for args).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callbot.dialog.inputs import SlotValue

# ------------------------------------------------------------------ events ---


@dataclass(frozen=True)
class FinalTranscript:
    """A final recognition result of one caller utterance."""

    text: str
    confidence: float = 1.0
    utterance_id: str = ""


@dataclass(frozen=True)
class PartialTranscript:
    """An interim result; used to end a yes/no turn as soon as the answer is clear."""

    text: str
    stability: float = 0.0
    utterance_id: str = ""


@dataclass(frozen=True)
class Dtmf:
    """One or more keys pressed by the caller ('0'-'9', '*', '#')."""

    digits: str


@dataclass(frozen=True)
class NoInput:
    """The no-input (or DTMF inter-digit) timer from the turn hints expired."""


@dataclass(frozen=True)
class BargeIn:
    """The caller spoke over a bot utterance; ``heard_text`` is what they actually heard."""

    utterance_id: str
    heard_text: str


@dataclass(frozen=True)
class HookResult:
    """The outcome of a HookRequest: ``data`` when ok, else a short ``error``."""

    request_id: str
    ok: bool
    data: Mapping[str, SlotValue | None] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class ActionFailed:
    """The switch could not carry out an action (e.g. the transfer target is down)."""

    action_id: str
    detail: str = ""


Event = FinalTranscript | PartialTranscript | Dtmf | NoInput | BargeIn | HookResult | ActionFailed

# ----------------------------------------------------------------- outputs ---


@dataclass(frozen=True)
class FlowStarted:
    """The call is pinned to this flow version (sha256 of its source files)."""

    flow: str
    version: str

    def record(self) -> dict[str, object]:
        return {"type": "flow_started", "flow": self.flow, "version": self.version}


@dataclass(frozen=True)
class BotUtterance:
    """Text for TTS; ``record_text`` is the same with sensitive values redacted."""

    id: str
    text: str = field(repr=False)
    record_text: str
    allow_interruptions: bool
    language: str

    def record(self) -> dict[str, object]:
        return {
            "type": "bot",
            "id": self.id,
            "text": self.record_text,
            "allow_interruptions": self.allow_interruptions,
            "language": self.language,
        }


@dataclass(frozen=True)
class TurnHints:
    """How to take the caller's next turn, derived from the expected input type."""

    step: str
    expect: str
    language: str
    end_of_utterance_silence_ms: int
    no_input_timeout_ms: int
    max_digits: int | None
    dtmf_terminator: str
    inter_digit_timeout_ms: int
    early_end_on_partial: bool
    allow_barge_in: bool
    backchannel_is_answer: bool
    stt_hints: tuple[str, ...]
    sensitive: bool

    def record(self) -> dict[str, object]:
        return {"type": "turn_hints", **dict(self.__dict__)}


@dataclass(frozen=True)
class CallerTurn:
    """The manager's reading of a caller turn, masked when the ask is sensitive."""

    text: str
    source: str  # "speech" | "dtmf" | "no_input"
    step: str
    outcome: str  # "filled", "no_match", "intent:<name>", "no_input", "ignored"

    def record(self) -> dict[str, object]:
        return {
            "type": "caller",
            "text": self.text,
            "source": self.source,
            "step": self.step,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class EndTurn:
    """A partial already answered the ask: finish the caller turn now, drop its final."""

    utterance_id: str

    def record(self) -> dict[str, object]:
        return {"type": "end_turn", "utterance_id": self.utterance_id}


@dataclass(frozen=True)
class RecordingControl:
    """Pause recording while a sensitive value is collected; resume after."""

    paused: bool

    def record(self) -> dict[str, object]:
        return {"type": "recording", "paused": self.paused}


@dataclass(frozen=True)
class Transfer:
    id: str
    target: str
    context: Mapping[str, str]  # sensitive slots already redacted

    def record(self) -> dict[str, object]:
        return {
            "type": "transfer",
            "id": self.id,
            "target": self.target,
            "context": dict(self.context),
        }


@dataclass(frozen=True)
class Hangup:
    id: str
    reason: str

    def record(self) -> dict[str, object]:
        return {"type": "hangup", "id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class SendDtmf:
    id: str
    digits: str

    def record(self) -> dict[str, object]:
        return {"type": "send_dtmf", "id": self.id, "digits": self.digits}


@dataclass(frozen=True)
class SwitchLanguage:
    id: str
    language: str

    def record(self) -> dict[str, object]:
        return {"type": "language", "id": self.id, "language": self.language}


@dataclass(frozen=True)
class HookRequest:
    """Run hook ``hook`` and answer with a HookResult carrying ``id``."""

    id: str
    hook: str
    kind: str  # "python" | "webhook"
    target: str
    timeout_ms: int
    args: Mapping[str, SlotValue | None] = field(repr=False)
    record_args: Mapping[str, str]

    def record(self) -> dict[str, object]:
        return {
            "type": "hook",
            "id": self.id,
            "hook": self.hook,
            "kind": self.kind,
            "timeout_ms": self.timeout_ms,
            "args": dict(self.record_args),
        }


Output = (
    FlowStarted
    | BotUtterance
    | TurnHints
    | CallerTurn
    | EndTurn
    | RecordingControl
    | Transfer
    | Hangup
    | SendDtmf
    | SwitchLanguage
    | HookRequest
)
Action = Transfer | Hangup | SendDtmf | SwitchLanguage | HookRequest
