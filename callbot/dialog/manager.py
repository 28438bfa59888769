"""The dialogue manager: runs one call's flow. Deterministic, clock injected, no I/O.

Feed it events (`handle`) and carry out what it returns, in order: speak
BotUtterances, apply TurnHints to the next caller turn, run HookRequests and
answer with HookResult, execute actions. Everything it returns has a masked
``record()`` view for transcripts, gRPC events and logs.

The work is split: `runner.FlowRunner` runs steps and actions,
`caller_input.CallerInput` reads the caller, and this class is the public API.
"""

from __future__ import annotations

import logging

from callbot.dialog import builtins
from callbot.dialog.caller_input import CallerInput
from callbot.dialog.events import (
    ActionFailed,
    BargeIn,
    Dtmf,
    Event,
    FinalTranscript,
    FlowStarted,
    HookResult,
    NoInput,
    Output,
    PartialTranscript,
)
from callbot.dialog.runner import MAX_STEPS_PER_TURN, Clock

__all__ = ["MAX_STEPS_PER_TURN", "Clock", "DialogueManager"]
log = logging.getLogger(__name__)


class DialogueManager(CallerInput):
    """One call's dialogue state. Not thread-safe: feed events from one task."""

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
            self._on_barge_in(event)
        elif isinstance(event, HookResult):
            self._on_hook_result(event)
        elif isinstance(event, ActionFailed):
            self._on_action_failed(event)
        return self._flush()

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
