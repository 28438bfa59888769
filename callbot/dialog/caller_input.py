"""Reading the caller: transcripts, partials, DTMF, no-input and barge-in.

Split from the manager so each part stays small; behaviour is the manager's.
"""

from __future__ import annotations

import logging
import re

from callbot.dialog import builtins
from callbot.dialog.answers import Reading
from callbot.dialog.events import BargeIn, CallerTurn, EndTurn, FinalTranscript, PartialTranscript
from callbot.dialog.inputs import InputType
from callbot.dialog.model import AskStep
from callbot.dialog.runner import FlowRunner
from callbot.dialog.templates import REDACTED

_COMPLETE_WHEN_READ = frozenset(
    {
        InputType.YES_NO, InputType.CHOICE, InputType.INTENT, InputType.DIGITS,
        InputType.PHONE, InputType.DATE,
    }
)  # fmt: skip
# A spoken year as Whisper writes it ("1990", "2024") or as Korean dates carry it ("1990년").
_YEAR = re.compile(r"(?<!\d)(1[89]|20)\d\d(?!\d)")
# An intent answer with a comma, or ending on a conjunction, may be a list or a
# clause that goes on after the pause ("I lost my wallet, my card, … and my keys").
_MAY_GO_ON = re.compile(r",|\b(and|or|but|so|because|then|also)\W*$", re.IGNORECASE)

log = logging.getLogger(__name__)


class CallerInput(FlowRunner):
    """The caller's side of the turn, on top of the step machine."""

    def _on_barge_in(self, event: BargeIn) -> None:
        sensitive = self._sensitive_now()
        self.history.append(
            {"type": "barge_in", "utterance_id": event.utterance_id,
             "heard_text": event.heard_text if not sensitive else REDACTED}
        )  # fmt: skip
        # An utterance we cannot vouch for (not of this turn) may have carried a value.
        self._heard = event.heard_text
        self._heard_masked = sensitive or self._turn_ids.get(event.utterance_id, True)
        if self._ask is not None and event.utterance_id in self._turn_ids:
            self._barged = True  # the caller knows the question: a no-match won't repeat it

    def _record_caller(self, text: str, source: str, outcome: str) -> None:
        step = self._ask.name if self._ask else (self._hook[1].name if self._hook else "")
        shown = REDACTED if self._sensitive_now() and text else text
        self._emit(CallerTurn(shown, source, step, outcome))

    def complete_answer(self, text: str) -> bool:
        """Would `text` alone fully answer the current ask? Pure: nothing changes.

        The listener asks this of a speculative transcript after a short silence and
        ends the turn at once when it is true, instead of waiting out the ask's whole
        end-of-utterance silence. Only answers that cannot go on count: a yes/no, a
        choice, an intent matched by a pattern or an example, every digit of a
        fixed-length number, or a date with its year. A date without a year, an
        amount or free text may continue after a pause ("March fifth … 1990"),
        and so may an intent matched only by similarity, or one with a comma or a
        trailing conjunction: "I lost my wallet, … my card, … and my keys" is a
        list, and the bot must not answer its first items.
        """
        ask = self._ask
        kind = ask.expect.type if ask is not None else None
        if ask is None or kind not in _COMPLETE_WHEN_READ or not text.strip():
            return False
        reading = self._reader.read_speech(ask, text, self.language, self._today())
        if reading.kind != "value" or reading.value is None or reading.rest or reading.fuzzy:
            return False
        if ask.confirm is not None and reading.value is False:
            return False  # "no, … it's 4 5 6 7": a correction may follow
        if kind in (InputType.DIGITS, InputType.PHONE):
            spec = ask.expect
            return spec.min_length == spec.max_length == len(str(reading.value))
        if kind is InputType.DATE:
            return _YEAR.search(text) is not None  # "March 5th" may go on; "… 1990" not
        if kind is InputType.INTENT:
            return _MAY_GO_ON.search(text) is None
        return True

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
        barged, self._barged = self._barged and not no_input, False
        self._new_turn()
        apology = ask.no_input if no_input else ask.no_match
        if apology is not None:
            self._say(apology)
        else:
            self._say_builtin(builtins.NO_INPUT if no_input else builtins.NO_MATCH)
        interruptible = ask.turn.interruptible is not False
        if not barged:
            self._say(ask.reprompt or ask.prompt, interruptible)
        elif ask.reprompt is not None:  # the short form; the full prompt was cut off once
            self._say(ask.reprompt, interruptible)
        else:  # only the apology; "repeat" still replays the question
            self._last_said.append((*self._render(ask.prompt), interruptible))
        self._dtmf = ""
        self._emit(self._hints(ask))
