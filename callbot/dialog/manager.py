"""The dialogue manager: runs one call's flow. Deterministic, clock injected, no I/O.

Feed it events (`handle`) and carry out what it returns, in order: speak
BotUtterances, apply TurnHints to the next caller turn, run HookRequests and
answer with HookResult, execute actions. Everything it returns has a masked
``record()`` view for transcripts, gRPC events and logs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from callbot.dialog import builtins
from callbot.dialog.answers import AnswerReader, Reading
from callbot.dialog.conditions import Value
from callbot.dialog.events import (
    ActionFailed,
    BargeIn,
    BotUtterance,
    CallerTurn,
    Dtmf,
    EndTurn,
    Event,
    FinalTranscript,
    FlowStarted,
    Hangup,
    HookRequest,
    HookResult,
    NoInput,
    Output,
    PartialTranscript,
    RecordingControl,
    SendDtmf,
    SwitchLanguage,
    Transfer,
    TurnHints,
)
from callbot.dialog.hints import turn_hints
from callbot.dialog.inputs import InputType, SlotValue
from callbot.dialog.model import (
    AskStep,
    BranchStep,
    CallStep,
    Flow,
    GotoStep,
    HangupStep,
    LanguageStep,
    Prompt,
    SayStep,
    SendDtmfStep,
    SetStep,
    TransferStep,
)
from callbot.dialog.nlu.intents import IntentMatcher
from callbot.dialog.templates import REDACTED

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
# Steps run between two caller turns; flow check rejects ask-free loops, this is a backstop.
MAX_STEPS_PER_TURN = 200


class DialogueManager:
    """One call's dialogue state. Not thread-safe: feed events from one task."""

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

    # ------------------------------------------------------------ public ---

    @property
    def flow_version(self) -> str:
        return self.flow.version

    @property
    def waiting_for(self) -> str | None:
        """The ask or call step the manager is waiting on, if any."""
        if self._ask is not None:
            return self._ask.name
        return self._hook[1].name if self._hook else None

    def masked_slots(self) -> dict[str, str]:
        """Slot values for records and logs: sensitive ones redacted."""
        return {k: self._record_value(k, v) for k, v in sorted(self.slots.items())}

    def start(self) -> list[Output]:
        self._emit(FlowStarted(self.flow.name, self.flow.version))
        self._run(self.flow.start)
        return self._flush()

    def handle(self, event: Event) -> list[Output]:
        if self.ended and not isinstance(event, ActionFailed):
            return []
        if isinstance(event, FinalTranscript):
            self._on_final(event)
        elif isinstance(event, PartialTranscript):
            self._on_partial(event)
        elif isinstance(event, Dtmf):
            self._on_dtmf(event.digits)
        elif isinstance(event, NoInput):
            self._on_no_input()
        elif isinstance(event, BargeIn):
            self.history.append(
                {"type": "barge_in", "utterance_id": event.utterance_id,
                 "heard_text": event.heard_text if not self._sensitive_now() else REDACTED}
            )  # fmt: skip
        elif isinstance(event, HookResult):
            self._on_hook_result(event)
        elif isinstance(event, ActionFailed):
            self._on_action_failed(event)
        return self._flush()

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
        return ns

    def _values(self) -> dict[str, SlotValue]:
        values: dict[str, SlotValue] = dict(self.slots)
        values.update({f"caller.{k}": v for k, v in self._caller.items()})
        values["language"] = self.language
        return values

    # ------------------------------------------------------------ speech ---

    def _say(self, prompt: Prompt, interruptible: bool = True) -> None:
        template = prompt.for_language(self.language)
        values = self._values()
        text = template.render(values, self.language)
        masked = template.render(values, self.language, lambda s: s in self.flow.sensitive_slots)
        self._speak(text, masked, interruptible)

    def _say_builtin(self, texts: Mapping[str, str]) -> None:
        text = texts.get(self.language, texts["en"])
        self._speak(text, text, True)

    def _speak(self, text: str, masked: str, interruptible: bool) -> None:
        self._last_said.append((text, masked, interruptible))
        self._emit(BotUtterance(self._next_id("u"), text, masked, interruptible, self.language))

    def _new_turn(self) -> None:
        self._last_said = []

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
        self._say(step.prompt, step.turn.interruptible is not False)
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

    # ------------------------------------------------------ caller input ---

    def _record_caller(self, text: str, source: str, outcome: str) -> None:
        step = self._ask.name if self._ask else (self._hook[1].name if self._hook else "")
        shown = REDACTED if self._sensitive_now() and text else text
        self._emit(CallerTurn(shown, source, step, outcome))

    def _on_partial(self, event: PartialTranscript) -> None:
        ask = self._ask
        if ask is None or not self._hints(ask).early_end_on_partial:
            return
        if event.utterance_id in self._consumed or not event.utterance_id:
            return
        reading = self._reader.read_speech(ask, event.text, self.language, self._today())
        if reading.kind == "value" and reading.rest == "" and ask.expect.type is InputType.YES_NO:
            self._consumed.add(event.utterance_id)
            self._emit(EndTurn(event.utterance_id))
            self._apply(ask, reading, event.text, "speech")

    def _on_final(self, event: FinalTranscript) -> None:
        if event.utterance_id and event.utterance_id in self._consumed:
            return
        ask = self._ask
        if ask is None:
            self._record_caller(event.text, "speech", "ignored")
            return
        if event.confidence < self.flow.settings.min_confidence or not event.text.strip():
            self._record_caller(event.text, "speech", "no_match")
            self._retry(no_input=False)
            return
        reading = self._reader.read_speech(ask, event.text, self.language, self._today())
        self._apply(ask, reading, event.text, "speech")

    def _on_dtmf(self, keys: str) -> None:
        for key in keys:
            ask = self._ask
            if ask is None:
                return
            if key == "#":
                if self._swallow_hash:
                    self._swallow_hash = False
                    continue
                self._complete_dtmf(ask)
                continue
            self._swallow_hash = False
            self._dtmf += key
            limit = self._hints(ask).max_digits
            if limit is not None and len(self._dtmf) >= limit:
                self._swallow_hash = True
                self._complete_dtmf(ask)

    def _complete_dtmf(self, ask: AskStep) -> None:
        keys, self._dtmf = self._dtmf, ""
        reading = self._reader.read_dtmf(ask, keys, self._today())
        self._apply(ask, reading, keys, "dtmf")

    def _on_no_input(self) -> None:
        if self._ask is None:
            return
        if self._dtmf:
            self._complete_dtmf(self._ask)  # the inter-digit timeout ends keyed input
            return
        self._record_caller("", "no_input", "no_input")
        self._retry(no_input=True)

    def _apply(self, ask: AskStep, reading: Reading, text: str, source: str) -> None:
        if reading.kind == "value" and reading.value is not None:
            self._record_caller(text, source, "filled")
            self.slots[ask.slot] = reading.value
            if ask.confirm is not None and reading.value is False and ask.on_no:
                self._run(ask.on_no)
            elif ask.confirm is not None and reading.value is False:
                back = self.flow.ask_step_for(ask.confirm)
                self._run(back or ask.name)
            elif ask.next is not None:
                self._run(ask.next)
        elif reading.kind == "correction" and ask.confirm is not None:
            self._record_caller(text, source, "corrected")
            if reading.value is not None:
                self.slots[ask.confirm] = reading.value
            self._run(ask.name)
        elif reading.kind == "intent" and reading.intent is not None:
            self._record_caller(text, source, f"intent:{reading.intent}")
            self._global(self.flow.global_intents[reading.intent])
        else:
            self._record_caller(text, source, "no_match")
            self._retry(no_input=False)

    def _retry(self, *, no_input: bool) -> None:
        ask = self._ask
        if ask is None:
            return
        if no_input:
            self._no_input += 1
            over = self._no_input > self.flow.settings.no_input_retries
        else:
            self._no_match += 1
            over = self._no_match > self.flow.settings.no_match_retries
        if over:
            log.info("flow %s: step %s escalates after retries", self.flow.name, ask.name)
            self._ask = None
            self._escalate()
            return
        self._new_turn()
        apology = ask.no_input if no_input else ask.no_match
        if apology is not None:
            self._say(apology)
        else:
            self._say_builtin(builtins.NO_INPUT if no_input else builtins.NO_MATCH)
        self._say(ask.reprompt or ask.prompt, ask.turn.interruptible is not False)
        self._dtmf = ""
        self._emit(self._hints(ask))

    # ------------------------------------------------------ hooks, actions ---

    def _on_hook_result(self, event: HookResult) -> None:
        if self._hook is None or self._hook[0] != event.request_id:
            return
        step = self._hook[1]
        self._hook = None
        if event.ok:
            for slot, key in step.save.items():
                value = event.data.get(key)
                self._set_slot(slot, value if isinstance(value, (str, int, bool)) else None)
            if step.next is not None:
                self._run(step.next)
            return
        log.warning("flow %s: hook step %s failed", self.flow.name, step.name)
        if step.on_error is not None:
            self._run(step.on_error)
        else:
            self._new_turn()
            self._say_builtin(builtins.HOOK_FAILED)
            self._escalate()

    def _on_action_failed(self, event: ActionFailed) -> None:
        if event.action_id != self._transfer_id:
            return
        # A transfer that failed must not leave the caller in silence.
        self._transfer_id = None
        self.ended = False
        self._new_turn()
        self._say_builtin(builtins.HOOK_FAILED)
        self._escalate_hangup("transfer_failed")
