"""ConversationHandler: one call's full loop as a `MediaHandler`.

caller audio → echo guard → Listener (VAD, endpointing, STT) → barge-in
arbiter and dialogue manager → Speaker (TTS → outbound) → actions. Events go
to the client through the CallPort, turns and latency into the call record.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from callbot.clock import Clock
from callbot.conversation import reports
from callbot.conversation.actions import apply_output
from callbot.conversation.hearing import AwaitingFinals, transcript_message
from callbot.conversation.interrupts import apply_verdict, discard
from callbot.conversation.metrics import TurnLog, TurnTimes
from callbot.conversation.port import CallPort
from callbot.conversation.speaker import Speaker, cancel_task
from callbot.dialog import events as ev
from callbot.dialog.hooks import HookRunner
from callbot.dialog.model import Flow
from callbot.dialog.nlu.embedder import Embedder
from callbot.dialog.runtime import new_manager
from callbot.media.g711 import Pcm
from callbot.record import ActionRecord
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings
from callbot.stt.listener import Listener
from callbot.stt.service import SttService
from callbot.tts.service import TtsService
from callbot.turn.bargein import BargeInArbiter, BargeInSettings, SpeechPolicy, Verdict
from callbot.turn.echo_guard import EchoGuard, EchoGuardSettings
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)
_STATE = pb.BotSpeechState


@dataclass(frozen=True)
class ConversationDeps:
    """Process-wide pieces shared by every call (loaded once)."""

    stt: SttService
    tts: TtsService
    flow: Flow
    embedder: Embedder | None = None
    hooks: HookRunner | None = None


@dataclass(frozen=True)
class ConversationSettings:
    bargein: BargeInSettings = field(default_factory=BargeInSettings)
    echo: EchoGuardSettings = field(default_factory=EchoGuardSettings)
    grpc_marks: bool = False  # heard text from playback_mark acks (GRPC media mode)
    # The flow's stt_hints as Whisper hotwords. Off: with the twelve month names tiny.en
    # looped ("March, March, …") on most 8 kHz date answers tried, and with the digit
    # words a decode in a pause between digits repeated them ("seven, three, seven,
    # three"), a complete answer while the caller was still speaking.
    hint_hotwords: bool = False
    # End a turn ~300 ms after speech when its transcript already answers the ask
    # (see DialogueManager.complete_answer).
    early_end: bool = True


class ConversationHandler:
    """`start()` on the loop, then `on_audio()` per caller frame; `aclose()` at the end."""

    def __init__(
        self,
        port: CallPort,
        deps: ConversationDeps,
        *,
        sample_rate: int,
        clock: Clock,
        language: str | None = None,
        caller: Mapping[str, str] | None = None,
        settings: ConversationSettings | None = None,
    ) -> None:
        self.port = port
        self.deps = deps
        self.sample_rate = sample_rate
        self.settings = settings or ConversationSettings()
        self._clock = clock
        self.language = language or deps.flow.language
        self._caller = dict(caller or {})
        self.arbiter = BargeInArbiter(self.settings.bargein)
        self.echo = EchoGuard(sample_rate, self.settings.echo)
        self.listener: Listener | None = None
        self.speaker: Speaker | None = None
        self.manager = new_manager(deps.flow, clock=clock.wall, embedder=deps.embedder,
                                   language=self.language, caller=self._caller)  # fmt: skip
        self._task: asyncio.Task[None] | None = None
        self.hook_tasks: set[asyncio.Task[None]] = set()
        self.log = TurnLog(port)
        self._awaiting = AwaitingFinals()
        self._ended_by_partial: set[str] = set()
        self.backchannel_is_answer = False
        self._sensitive = False  # the current ask's answer is masked on the stream
        self.closed = False

    @property
    def turns(self) -> list[TurnTimes]:
        """Every turn's latency marks sent so far (benchmarks read them)."""
        return self.log.sent

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        outbound = self.port.outbound
        if outbound is None:
            raise RuntimeError("the call's outbound audio is not started")
        self.listener = Listener(self.deps.stt, sample_rate=self.sample_rate,
                                 language=self.language, clock=self._clock,
                                 on_event=self._on_listen)  # fmt: skip
        self.listener.start()
        self.echo.start()
        self.speaker = Speaker(self.deps.tts, outbound, sample_rate=self.sample_rate,
                               now_ms=lambda: self.port.media_time_ms,
                               on_started=functools.partial(reports.started, self),
                               on_first_frame=functools.partial(reports.first_frame, self),
                               on_finished=functools.partial(reports.finished, self),
                               played_from_marks=self.settings.grpc_marks)  # fmt: skip
        outbound.add_tap(lambda f: self.echo.reference(f.pcm, self.port.media_time_ms))
        self._task = asyncio.get_running_loop().create_task(self.speaker.run(), name="playout")
        self.apply(self.manager.start())

    def on_audio(self, pcm: Pcm) -> None:
        if self.listener is None or self.closed:
            return
        start_ms = self.port.media_time_ms - pcm.size * 1000 / self.sample_rate
        listener = self.listener
        listener.push(self.echo.process(pcm, start_ms), start_ms)
        now = self.port.media_time_ms
        if listener.onset and self.speaker is not None and self.speaker.speaking:
            self._verdict(self.arbiter.on_onset(now, bot_speaking=True, policy=self._policy()))
        self._verdict(self.arbiter.on_time(now, voiced=listener.voiced, onset=listener.onset))
        self._check_dropped()

    def on_dtmf(self, digits: str) -> None:
        if self.speaker is not None and self.speaker.speaking and self._interruptible():
            discard(self, None)
        self.apply(self.manager.handle(ev.Dtmf(digits)))

    def on_action_result(self, action_id: str, status: pb.ActionStatus.ValueType,
                         detail: str = "") -> None:  # fmt: skip
        for action in self.port.record.actions:
            if action.action_id == action_id:
                action.status = pb.ActionStatus.Name(status).removeprefix("ACTION_STATUS_").lower()
                if status == pb.ACTION_STATUS_SUCCEEDED and action.kind == "transfer":
                    self.port.end(pb.END_REASON_TRANSFERRED, action.details.get("target", ""))
                    return
        if status != pb.ACTION_STATUS_SUCCEEDED:
            self.apply(self.manager.handle(ev.ActionFailed(action_id, detail)))

    def on_playback_marks(self, acked_frames: int) -> None:
        """GRPC mode: the client's playback position (CallSession.marks_acked)."""
        if self.speaker is not None:
            self.speaker.played_from_acks(acked_frames)

    def on_hold(self) -> None:
        if self.listener is not None:
            self.listener.end_input()

    def on_resume(self) -> None:
        """Nothing: the next frame's media time shows the jump."""

    def close(self) -> None:
        self.closed = True
        if self.speaker is not None:
            self.speaker.close()
        if self.listener is not None:
            self.listener.end_input()

    async def aclose(self) -> None:
        self.close()
        await cancel_task(self._task)
        for task in list(self.hook_tasks):
            await cancel_task(task)
        if self.listener is not None:
            await self.listener.aclose()

    # ------------------------------------------------------------- hearing

    def _on_listen(self, e: ListenEvent) -> None:
        if self.closed:
            return
        now = self.port.media_time_ms
        uid = e.utterance_id
        if e.kind is not ListenEventKind.FINAL:
            self.port.send(transcript_message(e, sensitive=self._sensitive))
        if e.kind is ListenEventKind.SPEECH_BEGIN:
            speaking = self.speaker is not None and self.speaker.speaking
            self._verdict(self.arbiter.on_speech_begin(
                uid, e.start_ms, now, bot_speaking=speaking, policy=self._policy()))  # fmt: skip
        elif e.kind is ListenEventKind.SPEECH_END:
            self._speech_end(e, now)
        elif e.kind is ListenEventKind.PARTIAL:
            self._verdict(self.arbiter.on_transcript(uid, e.text, final=False, now_ms=now))
            if self.arbiter.paused or self.arbiter.swallows(uid):
                return
            outputs = self.manager.handle(ev.PartialTranscript(e.text, e.stability, uid))
            if any(isinstance(o, ev.EndTurn) for o in outputs):  # a partial answered the ask
                t = self.log.caller_turn(uid, e.start_ms, e.end_ms, e.confidence)
                self._answer(t, outputs)
            else:
                self.apply(outputs)
        elif e.kind is ListenEventKind.FINAL:
            self._final(e, now)
        elif e.kind is ListenEventKind.NO_INPUT:
            self.apply(self.manager.handle(ev.NoInput()))

    def _speech_end(self, e: ListenEvent, now: int) -> None:
        uid = e.utterance_id
        t = self.log.get(uid)
        t.speech_end_ms, t.endpoint_ms = e.media_time_ms, now
        self._verdict(self.arbiter.on_speech_end(uid, e.start_ms, e.media_time_ms, now))
        listener = self.listener
        if listener is None:
            return
        if e.media_time_ms - e.start_ms >= listener.settings.min_speech_ms:
            self._awaiting.ended(uid, now)
        elif not self._awaiting and not self.arbiter.paused:
            listener.set_turn(listener.settings)  # too short to decode: re-arm no-input

    def _final(self, e: ListenEvent, now: int) -> None:
        uid = e.utterance_id
        self._awaiting.final(uid)  # earlier ones were dropped: this answer replaces them
        sensitive = self._sensitive
        self._verdict(self.arbiter.on_transcript(uid, e.text, final=True, now_ms=now))
        if self.arbiter.swallows(uid) or uid in self._ended_by_partial:
            self.port.send(transcript_message(e, sensitive=sensitive))
            return
        t = self.log.caller_turn(uid, e.start_ms, e.end_ms, e.confidence)
        outputs = self.manager.handle(ev.FinalTranscript(e.text, e.confidence, uid))
        self.port.send(transcript_message(e, sensitive=sensitive, outputs=outputs))
        self._answer(t, outputs)

    def _check_dropped(self) -> None:
        """Utterances the listener dropped without a final are a no-match, not silence."""
        if self.listener is None or not self._awaiting:
            return
        rejected = self.listener.stats.rejected
        for uid in self._awaiting.dropped(rejected, self.port.media_time_ms):
            if self.arbiter.swallows(uid) or self.arbiter.paused:
                continue  # noise over the bot: the arbiter resumes it
            log.info("caller utterance dropped by the recogniser; answered as a no-match")
            self.apply(self.manager.handle(ev.FinalTranscript("", 0.0, uid)))

    def _answer(self, t: TurnTimes, outputs: list[ev.Output]) -> None:
        t.dialog_decision_ms = self.port.media_time_ms
        previous = self.log.answering
        if previous is not None and previous is not t:
            self.log.send(previous)  # its reply never came (a hook that only hung up)
        self.log.answering = t
        self.apply(outputs, turn_id=t.turn_id)
        # A hook's reply comes when the hook answers: its first frame sends the marks,
        # so the turn's voice-to-voice includes the hook, as the caller hears it.
        if not any(isinstance(o, (ev.BotUtterance, ev.HookRequest)) for o in outputs):
            self.log.send(t)

    # ------------------------------------------------------------ barge-in

    def _policy(self) -> SpeechPolicy:
        return SpeechPolicy(self._interruptible(), self.backchannel_is_answer)

    def _interruptible(self) -> bool:
        p = self.speaker.current if self.speaker is not None else None
        return p is not None and p.utt.allow_interruptions

    def _verdict(self, verdict: Verdict) -> None:
        apply_verdict(self, verdict)

    # -------------------------------------------------------------- outputs

    def apply(self, outputs: list[ev.Output], turn_id: str = "") -> None:
        hints = [o for o in outputs if isinstance(o, ev.TurnHints)]
        yes_no = bool(hints and hints[-1].backchannel_is_answer)
        for o in outputs:
            if isinstance(o, ev.BotUtterance) and self.speaker is not None:
                self.speaker.say(o, backchannel_is_answer=yes_no)
            elif isinstance(o, ev.TurnHints):
                self._sensitive = o.sensitive
                # How to hear the answer applies at once (a caller may answer over the
                # prompt, and must not be cut by the last ask's shorter silence); the
                # no-input timer starts once the ask was said.
                self._set_turn(o, no_input=False)
                if self.speaker is not None:
                    self.speaker.then(functools.partial(self._set_turn, o))
            elif isinstance(o, ev.EndTurn):
                self._ended_by_partial.add(o.utterance_id)
            elif isinstance(o, ev.CallerTurn):
                turn = self.log.caller_turns.get(turn_id)
                if turn is not None:
                    turn.text = o.text
                    turn.details.update(step=o.step, outcome=o.outcome, source=o.source)
            else:
                apply_output(self, o)

    def _set_turn(self, hints: ev.TurnHints, no_input: bool = True) -> None:
        if self.listener is not None and not self.closed:
            self.listener.set_turn(
                TurnSettings(
                    silence_ms=hints.end_of_utterance_silence_ms,
                    no_input_ms=hints.no_input_timeout_ms if no_input else 0,
                    hotwords=tuple(hints.stt_hints) if self.settings.hint_hotwords else (),
                    complete=self.manager.complete_answer if self.settings.early_end else None,
                )
            )

    def record_action(self, action_id: str, kind: str, details: dict[str, object]) -> None:
        self.port.record.actions.append(
            ActionRecord(action_id, kind, self.port.media_time_ms, details=details)
        )
