"""Running a flow's steps: the state of one call and everything but reading the caller.

`DialogueManager` (manager.py) is the public face; `CallerInput` (caller_input.py)
reads transcripts, DTMF, no-input and barge-in; this module runs steps, speaks,
asks hooks and carries out actions. Deterministic, clock injected, no I/O.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from callbot.dialog import builtins
from callbot.dialog.answers import AnswerReader
from callbot.dialog.conditions import Value
from callbot.dialog.events import (
    BotUtterance,
    Hangup,
    HookRequest,
    Output,
    RecordingControl,
    SendDtmf,
    SwitchLanguage,
    Transfer,
    TurnHints,
)
from callbot.dialog.hints import turn_hints
from callbot.dialog.inputs import SlotValue
from callbot.dialog.model import (
    AskStep,
    BranchStep,
    CallStep,
    Flow,
    GotoStep,
    HangupStep,
    LanguageStep,
    Prompt,
    ReturnStep,
    SayStep,
    SendDtmfStep,
    SetStep,
    SubflowStep,
    TransferStep,
)
from callbot.dialog.nlu.intents import IntentMatcher
from callbot.dialog.templates import REDACTED

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
# Steps run between two caller turns; flow check rejects ask-free loops, this is a backstop.
MAX_STEPS_PER_TURN = 200
# Built-in slot: what the caller heard of the bot line they last barged in on.
HEARD = "heard_text"


class FlowRunner:
    """One call's dialogue state and the step machine. Not thread-safe."""

    def __init__(
        self,
        flow: Flow,
        *,
        clock: Clock,
        matcher: IntentMatcher | None = None,
        language: str | None = None,
        caller: Mapping[str, str] | None = None,
    ) -> None:
        self.flow = flow
        self.language = language or flow.language
        self._clock = clock
        self._reader = AnswerReader(flow, matcher)
        self._caller = dict(caller or {})
        self.slots: dict[str, SlotValue] = {}
        self.ended = False
        self.history: list[dict[str, object]] = []
        self._out: list[Output] = []
        self._ask: AskStep | None = None
        self._hook: tuple[str, CallStep] | None = None
        self._transfer_id: str | None = None
        self._no_input = 0
        self._no_match = 0
        self._dtmf = ""
        self._swallow_hash = False
        self._last_said: list[tuple[str, str, bool]] = []
        self._consumed: set[str] = set()
        self._recording_paused = False
        self._ids = 0
        self._turn_ids: dict[str, bool] = {}  # this turn's utterances: id -> has redactions
        self._heard: str | None = None  # HEARD, until the next ask
        self._heard_masked = False  # the barged line carried a sensitive value
        self._barged = False  # the caller barged in on this ask's prompt

    # ---------------------------------------------------------- plumbing ---

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    def _emit(self, output: Output) -> None:
        self._out.append(output)

    def _flush(self) -> list[Output]:
        want_paused = self._ask is not None and self._sensitive_now() and not self.ended
        if want_paused != self._recording_paused:
            self._recording_paused = want_paused
            self._out.append(RecordingControl(want_paused))
        out, self._out = self._out, []
        self.history.extend(o.record() for o in out)
        return out

    def _today(self) -> dt.date:
        return self._clock().date()

    def _sensitive_now(self) -> bool:
        ask = self._ask
        if ask is None:
            return False
        return ask.sensitive or (
            ask.confirm is not None and ask.confirm in self.flow.sensitive_slots
        )

    def _record_value(self, slot: str, value: SlotValue | None) -> str:
        if slot in self.flow.sensitive_slots:
            return REDACTED
        if isinstance(value, (dt.date, dt.time)):
            return value.isoformat()
        return "" if value is None else str(value)

    def _namespace(self) -> dict[str, Value]:
        ns: dict[str, Value] = dict(self.slots)
        ns.update({f"caller.{k}": v for k, v in self._caller.items()})
        ns["language"] = self.language
        ns["flow_version"] = self.flow.version
        if self._heard is not None:
            ns[HEARD] = self._heard
        return ns

    def _values(self) -> dict[str, SlotValue]:
        values: dict[str, SlotValue] = dict(self.slots)
        values.update({f"caller.{k}": v for k, v in self._caller.items()})
        values["language"] = self.language
        if self._heard is not None:
            values[HEARD] = self._heard
        return values

    def _redacted(self, slot: str) -> bool:
        return slot in self.flow.sensitive_slots or (slot == HEARD and self._heard_masked)

    # ------------------------------------------------------------ speech ---

    def _render(self, prompt: Prompt) -> tuple[str, str]:
        """(speech text, record text with sensitive values redacted)."""
        template = prompt.for_language(self.language)
        values = self._values()
        return template.render(values, self.language), template.render(
            values, self.language, self._redacted
        )

    def _say(self, prompt: Prompt, interruptible: bool = True) -> None:
        text, masked = self._render(prompt)
        self._speak(text, masked, interruptible)

    def _say_builtin(self, texts: Mapping[str, str]) -> None:
        text = texts.get(self.language, texts["en"])
        self._speak(text, text, True)

    def _speak(self, text: str, masked: str, interruptible: bool) -> None:
        self._last_said.append((text, masked, interruptible))
        utterance_id = self._next_id("u")
        self._turn_ids[utterance_id] = text != masked
        self._emit(BotUtterance(utterance_id, text, masked, interruptible, self.language))

    def _new_turn(self) -> None:
        self._last_said = []
        self._turn_ids = {}

    # ------------------------------------------------------------- steps ---

    def _run(self, name: str) -> None:
        """Run steps from ``name`` until the flow waits for the caller, a hook, or ends."""
        self._ask = None
        self._new_turn()
        for _ in range(MAX_STEPS_PER_TURN):
            step = self.flow.steps[name]
            nxt: str | None = None
            if isinstance(step, SayStep):
                self._say(step.prompt, step.interruptible)
                nxt = step.next
            elif isinstance(step, AskStep):
                self._begin_ask(step)
                return
            elif isinstance(step, BranchStep):
                ns = self._namespace()
                hit = next((c.target for c in step.cases if c.condition.evaluate(ns)), None)
                nxt = hit or step.otherwise
            elif isinstance(step, SetStep):
                for slot, value in step.values.items():
                    self._set_slot(slot, value)
                nxt = step.next
            elif isinstance(step, CallStep):
                self._call(step)
                return
            elif isinstance(step, TransferStep):
                self._transfer(step)
                return
            elif isinstance(step, HangupStep):
                if step.prompt is not None:
                    self._say(step.prompt)
                self._end(step.reason)
                return
            elif isinstance(step, SendDtmfStep):
                self._emit(SendDtmf(self._next_id("a"), step.digits))
                nxt = step.next
            elif isinstance(step, LanguageStep):
                self.language = step.language
                self._emit(SwitchLanguage(self._next_id("a"), step.language))
                nxt = step.next
            elif isinstance(step, GotoStep):
                nxt = step.target
            elif isinstance(step, SubflowStep):
                nxt = step.entry  # its steps are inlined as "<name>/…"; they return to next
            elif isinstance(step, ReturnStep):
                self._end("completed")  # a sub-flow run on its own: nothing to return to
                return
            if nxt is None or nxt not in self.flow.steps:
                log.error("flow %s: step %s leads nowhere; ending the call", self.flow.name, name)
                self._escalate_hangup("flow_error")
                return
            name = nxt
        log.error("flow %s: too many steps without a caller turn", self.flow.name)
        self._escalate_hangup("flow_error")

    def _set_slot(self, slot: str, value: SlotValue | None) -> None:
        if value is None:
            self.slots.pop(slot, None)
        else:
            self.slots[slot] = value

    def _begin_ask(self, step: AskStep, *, reset: bool = True) -> None:
        self._ask = step
        if reset:
            self._no_input = self._no_match = 0
        self._dtmf = ""
        self._barged = False
        self._say(step.prompt, step.turn.interruptible is not False)
        self._heard, self._heard_masked = None, False  # kept until the next question is asked
        self._emit(self._hints(step))

    def _hints(self, step: AskStep) -> TurnHints:
        return turn_hints(step, self.language)

    def _call(self, step: CallStep) -> None:
        hook = self.flow.hooks[step.hook]
        args = {name: self._values().get(slot) for name, slot in step.args.items()}
        record_args = {
            name: self._record_value(slot, args[name]) for name, slot in step.args.items()
        }
        request_id = self._next_id("h")
        self._hook = (request_id, step)
        self._emit(
            HookRequest(request_id, hook.name, hook.kind, hook.target,
                        step.timeout_ms or hook.timeout_ms, args, record_args)
        )  # fmt: skip

    def _transfer(self, step: TransferStep) -> None:
        if step.prompt is not None:
            self._say(step.prompt)
        context = {
            slot: self._record_value(slot, self._values().get(slot)) for slot in step.context
        }
        context["flow"] = self.flow.name
        context["flow_version"] = self.flow.version
        self._transfer_id = self._next_id("a")
        self._emit(Transfer(self._transfer_id, self.flow.transfers[step.target], context))
        self.ended = True

    def _end(self, reason: str) -> None:
        self._ask = None
        self._emit(Hangup(self._next_id("a"), reason))
        self.ended = True

    def _escalate_hangup(self, reason: str) -> None:
        self._say_builtin(builtins.ESCALATE_HANGUP)
        self._end(reason)

    def _escalate(self) -> None:
        target = self.flow.settings.escalate
        if target is not None and target in self.flow.steps:
            self._run(target)
        else:
            self._new_turn()
            self._escalate_hangup("escalated")

    def _global(self, target: str) -> None:
        if target == "repeat":
            said, self._last_said = self._last_said, []
            for text, masked, interruptible in said:
                self._speak(text, masked, interruptible)
            if self._ask is not None:
                self._emit(self._hints(self._ask))
        elif target == "goodbye":
            self._new_turn()
            self._say_builtin(builtins.GOODBYE)
            self._end("caller_goodbye")
        elif target == "escalate":
            self._escalate()
        else:
            self._run(target)
