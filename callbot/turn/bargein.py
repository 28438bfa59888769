"""Barge-in arbitration: pause the bot at the caller's onset, then resume or discard.

Pure policy on the media clock (ms), no I/O: the conversation wiring feeds it
voice onsets, speech begin/end, transcripts and the passing media time, and
carries out what it answers. The bot pauses at the VAD's first voiced frame
(`on_onset`), before the voice has lasted long enough to be speech; if no
speech follows (a click, a breath), it goes on at once (`FALSE_ONSET`). A
short backchannel ("uh-huh", "네") or noise resumes the bot where it paused;
anything longer or with content discards the rest of the bot's turn. During a
yes/no ask an acknowledgement is an answer, so it discards too; a
non-interruptible prompt is never paused.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

BACKCHANNELS = frozenset(
    {
        "uh-huh", "uh huh", "uhuh", "mm-hmm", "mm hmm", "mhm", "mm", "hmm", "hm", "um",
        "uh", "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright",
        "i see", "got it", "oh", "ah", "aha", "huh", "mhmm", "hmm-hmm", "m", "mm-hm",
        "네", "예", "응", "음", "어", "아", "네네", "예예", "그렇군요", "그래요",
    }
)  # fmt: skip
_WORDS = re.compile(r"[^\w\s'-]+", re.UNICODE)


def is_backchannel(text: str, words: frozenset[str] = BACKCHANNELS) -> bool:
    """True if the text is only acknowledgements ("Yeah, yeah." / "Mm-hmm." / "네 네")."""
    clean = " ".join(_WORDS.sub(" ", text.lower()).split())
    if not clean:
        return False
    if clean in words:
        return True
    # Whisper spells the same sound many ways ("Uh-uh.", "Mm-hm", "uh-huh-huh"):
    # a hyphenated token counts when each of its parts is an acknowledgement.
    return all(
        tok in words or all(part in words for part in tok.split("-") if part)
        for tok in clean.split()
    )


class Verdict(enum.Enum):
    NONE = "none"
    PAUSE = "pause"  # stop sending now, keep the rest queued
    RESUME = "resume"  # it was a backchannel or noise: continue where it paused
    FALSE_ONSET = "false_onset"  # the voice that paused it never became speech: continue
    DISCARD = "discard"  # a real barge-in: drop the rest, report what was heard


@dataclass(frozen=True)
class BargeInSettings:
    max_backchannel_ms: int = 700  # caller speech longer than this is a barge-in
    noise_wait_ms: int = 1200  # after a short utterance, wait this long for its transcript
    # A pause at a voiced frame that has not become speech after this long ends (the
    # VAD confirms speech after ~100 ms of voice).
    max_onset_ms: int = 240
    backchannels: frozenset[str] = BACKCHANNELS


@dataclass(frozen=True)
class SpeechPolicy:
    """How the bot's current utterance may be interrupted (from the flow)."""

    interruptible: bool = True
    backchannel_is_answer: bool = False  # a yes/no ask: "yeah" answers it


@dataclass
class BargeInTimes:
    utterance_id: str = ""  # the caller's utterance that paused the bot
    onset_ms: int = 0  # first voiced sample of the caller's utterance
    pause_ms: int = 0  # when playback was paused
    decision_ms: int = 0


@dataclass
class _Pending:
    utterance_id: str
    policy: SpeechPolicy
    times: BargeInTimes
    speaking: bool = True
    text_deadline_ms: int | None = None
    tentative: bool = False  # paused at a voiced frame; no utterance has begun yet


@dataclass
class BargeInArbiter:
    """One call's barge-in state; every method returns what to do now."""

    settings: BargeInSettings = field(default_factory=BargeInSettings)
    _pending: _Pending | None = None
    _swallowed: set[str] = field(default_factory=set)
    last: BargeInTimes | None = None  # times of the last decided onset
    _onset_spent: bool = False  # the VAD's undecided onset already paused the bot once

    @property
    def paused(self) -> bool:
        return self._pending is not None

    def swallows(self, utterance_id: str) -> bool:
        """True for a caller utterance that was only a backchannel (not for the dialogue)."""
        return utterance_id in self._swallowed

    def on_onset(self, now_ms: int, *, bot_speaking: bool, policy: SpeechPolicy) -> Verdict:
        """The VAD heard a voiced frame (not yet speech): pause the bot now."""
        if not self._may_pause(bot_speaking, policy) or self._onset_spent:
            return Verdict.NONE
        self._pending = _Pending("", policy, BargeInTimes(pause_ms=now_ms), tentative=True)
        return Verdict.PAUSE

    def on_speech_begin(
        self, utterance_id: str, onset_ms: int, now_ms: int, *, bot_speaking: bool,
        policy: SpeechPolicy,
    ) -> Verdict:  # fmt: skip
        p = self._pending
        if p is not None and p.tentative:  # the onset that paused the bot is speech
            p.tentative, p.utterance_id = False, utterance_id
            p.times.utterance_id, p.times.onset_ms = utterance_id, onset_ms
            return Verdict.NONE
        if not self._may_pause(bot_speaking, policy):
            return Verdict.NONE
        times = BargeInTimes(utterance_id, onset_ms=onset_ms, pause_ms=now_ms)
        self._pending = _Pending(utterance_id, policy, times)
        return Verdict.PAUSE

    def on_speech_end(self, utterance_id: str, start_ms: int, end_ms: int, now_ms: int) -> Verdict:
        p = self._pending
        if p is None or p.utterance_id != utterance_id:
            return Verdict.NONE
        p.speaking = False
        if end_ms - start_ms > self.settings.max_backchannel_ms:
            return self._decide(Verdict.DISCARD, now_ms)
        p.text_deadline_ms = now_ms + self.settings.noise_wait_ms
        return Verdict.NONE

    def on_transcript(self, utterance_id: str, text: str, *, final: bool, now_ms: int) -> Verdict:
        p = self._pending
        if p is None or p.utterance_id != utterance_id:
            return Verdict.NONE
        ack = is_backchannel(text, self.settings.backchannels)
        if text.strip() and not ack:
            return self._decide(Verdict.DISCARD, now_ms)  # content: no need to wait
        if not final:
            return Verdict.NONE
        if ack and p.policy.backchannel_is_answer:
            return self._decide(Verdict.DISCARD, now_ms)
        self._swallowed.add(utterance_id)
        return self._decide(Verdict.RESUME, now_ms)

    def on_time(self, now_ms: int, *, voiced: bool = True, onset: bool = False) -> Verdict:
        """The media clock moved on: a long utterance or a missing transcript decides.

        `voiced` is the VAD's view now, `onset` whether it is still judging a voiced
        frame that may become speech. The utterance's end (`on_speech_end`) only
        comes with the endpoint, after the turn's whole end-of-utterance silence: a
        short "uh-huh" whose voice has already stopped is not a long utterance.
        """
        if not onset:
            self._onset_spent = False
        p = self._pending
        if p is None:
            return Verdict.NONE
        if p.tentative:
            if (onset or voiced) and now_ms - p.times.pause_ms < self.settings.max_onset_ms:
                return Verdict.NONE
            self._pending = None  # no speech came of it: not a barge-in, nothing to record
            # Still undecided (a steady murmur): that onset must not pause the bot again.
            self._onset_spent = onset
            return Verdict.FALSE_ONSET
        if p.speaking and voiced and now_ms - p.times.onset_ms > self.settings.max_backchannel_ms:
            return self._decide(Verdict.DISCARD, now_ms)
        if p.text_deadline_ms is not None and now_ms >= p.text_deadline_ms:
            # No transcript: the recogniser heard nothing (a cough, a click, line noise).
            self._swallowed.add(p.utterance_id)
            return self._decide(Verdict.RESUME, now_ms)
        return Verdict.NONE

    def bot_finished(self) -> None:
        """The bot's turn ended (or was discarded elsewhere): nothing left to arbitrate."""
        self._pending = None

    def _may_pause(self, bot_speaking: bool, policy: SpeechPolicy) -> bool:
        return bot_speaking and policy.interruptible and self._pending is None

    def _decide(self, verdict: Verdict, now_ms: int) -> Verdict:
        p = self._pending
        if p is not None:
            p.times.decision_ms = now_ms
            self.last = p.times
        self._pending = None
        return verdict
