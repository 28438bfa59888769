"""One call's ears: PCM frames in; speech begin/end, partials, finals, no-input out.

The media path (`push`) is synchronous and cheap: resample to 16 kHz, VAD,
endpointing, and queueing decodes on the shared lane executor. Decodes finish
on worker threads and come back through `loop.call_soon_threadsafe`, so the
listener starts no task of its own and media never waits for a decode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from callbot.clock import Clock
from callbot.media.g711 import Pcm
from callbot.media.resample import StreamResampler
from callbot.stt.audio_buffer import AudioBuffer
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings, WordTiming, stability
from callbot.stt.guards import GuardSettings, collapse_repeats, rejection
from callbot.stt.service import SttService
from callbot.stt.whisper import SAMPLE_RATE, Audio, Decoded
from callbot.turn.endpointing import Endpointer, EndpointEvent, EndpointKind
from callbot.vad.base import VadState, VoiceActivityDetector
from callbot.workers import Lane, Shed

log = logging.getLogger(__name__)
_PER_MS = SAMPLE_RATE // 1000
_AUTO_MIN_S = 1.5
# Language detection among the call's candidates (usually {en, ko}: 0.5 is a coin
# toss). Robotic espeak-ng Korean scores 0.79-0.85 depending on the CPU's kernels.
_AUTO_MIN_P = 0.7
_CONTEXT_CHARS = 200  # previous finals kept as the decoder prompt (about 50 tokens)


@dataclass
class ListenerStats:
    utterances: int = 0
    finals: int = 0
    rejected: int = 0  # decodes the hallucination guards stopped
    partials: int = 0
    partials_shed: int = 0
    speculative: int = 0
    speculative_used: int = 0
    speculative_wasted: int = 0
    early_ends: int = 0  # turns ended early: the transcript already answered the question
    final_wait_ms: list[float] = field(default_factory=list)


@dataclass
class _Utterance:
    id: str
    start: int  # 16 kHz position of the first voiced sample
    ms_offset: float
    partial: Future[Decoded] | None = None
    partial_pos: int = 0
    partial_text: str = ""
    spec: Future[Decoded] | None = None
    spec_audio: tuple[int, int] = (0, 0)
    spec_prompt: str | None = None
    early_checked: Future[Decoded] | None = None  # the speculative decode already judged
    final: Future[Decoded] | None = None
    final_pcm: Audio | None = None  # kept while the final waits for the previous one
    final_audio: tuple[int, int] = (0, 0)
    ended_at: float = 0.0
    end_pos: int = 0
    result: Decoded | None = None
    failed: bool = False


class Listener:
    """Per-call VAD → endpointing → streaming STT. `start()`, `push()`…, `aclose()`."""

    def __init__(
        self,
        service: SttService,
        *,
        sample_rate: int,
        language: str = "en",
        settings: TurnSettings | None = None,
        clock: Clock,
        on_event: Callable[[ListenEvent], None] | None = None,
        speculative: bool = True,
        preroll_ms: int = 300,
        postroll_ms: int = 96,
        speculate_lead_ms: int = 400,
        guards: GuardSettings | None = None,
        context: bool = True,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"sample rate must be 8000 or 16000, got {sample_rate}")
        self.sample_rate = sample_rate
        self.language = language  # "auto" until detected
        self.settings = settings or TurnSettings()
        self.stats = ListenerStats()
        self._service = service
        self._clock = clock
        self._on_event = on_event
        self._speculative = speculative
        self._preroll = preroll_ms * _PER_MS
        self._postroll = postroll_ms * _PER_MS
        self._spec_lead = speculate_lead_ms * _PER_MS
        self._guards = guards
        self._use_context = context
        self._context = ""  # this turn's finals so far: the next decodes' prompt
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[ListenEvent | None] | None = None
        self._vad: VoiceActivityDetector | None = None
        self._resampler: StreamResampler | None = None
        self._ep = Endpointer(SAMPLE_RATE, self.settings.endpoint())
        self._buf = AudioBuffer()
        self._pos = 0  # 16 kHz samples received
        self._ms_offset = 0.0  # media ms = pos / 16 + offset
        self._expected_ms: float | None = None
        self._utt: _Utterance | None = None
        self._pending: deque[_Utterance] = deque()
        self._count = 0
        self._started = False
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    def set_event_sink(self, on_event: Callable[[ListenEvent], None]) -> None:
        """Deliver events to `on_event` (before start(); for handlers built after us)."""
        if self._started:
            raise RuntimeError("set_event_sink() after start()")
        self._on_event = on_event

    def start(self) -> None:
        """Take a call slot (may raise `workers.Refused`) and build the per-call state."""
        self._loop = asyncio.get_running_loop()
        self._service.executor.admit_call()
        self._started = True
        if self._on_event is None:
            self._queue = asyncio.Queue()
        self._vad = self._service.new_vad(SAMPLE_RATE, narrowband=self.sample_rate < SAMPLE_RATE)
        if self.sample_rate != SAMPLE_RATE:
            self._resampler = StreamResampler(self.sample_rate, SAMPLE_RATE)
        self._ep.start_turn(self.settings.endpoint(), 0)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """End input, wait for the finals still being decoded, release the call slot."""
        if self._closed:
            return
        self.end_input()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Finals run one after another (each is the next one's prompt): wait for the chain.
        while self._pending and (left := deadline - loop.time()) > 0:
            waits = [asyncio.wrap_future(f) for u in self._pending if (f := u.final) is not None]
            if not waits:
                break
            await asyncio.wait(waits, timeout=left)
            await asyncio.sleep(0)  # let the done-callbacks scheduled on the loop run
        self._closed = True
        if self._started:
            self._service.executor.release_call()
        if self._queue is not None:
            self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[ListenEvent]:
        """Every event until `aclose()` (only without an `on_event` callback)."""
        if self._queue is None:
            raise RuntimeError("events() needs start() and no on_event callback")
        while (event := await self._queue.get()) is not None:
            yield event

    @property
    def voiced(self) -> bool:
        """The VAD hears voice now (not in its hangover, not quiet)."""
        return self._vad is not None and self._vad.state is VadState.SPEAKING

    @property
    def onset(self) -> bool:
        """The VAD heard a voiced frame and is judging whether speech follows."""
        return self._vad is not None and self._vad.state is VadState.STARTING

    def set_turn(self, settings: TurnSettings) -> None:
        """Settings for the next answer; the no-input timer starts now."""
        self.settings = settings
        if settings.language:
            self.language = settings.language
        self._context = ""  # a new question: the previous answer is no context
        self._ep.start_turn(settings.endpoint(), self._pos)

    # ---------------------------------------------------------------- media

    def media_ms(self, pos: int) -> int:
        return round(pos / _PER_MS + self._ms_offset)

    def push(self, pcm: Pcm, media_time_ms: float | None = None) -> None:
        """Caller audio at the call's rate; `media_time_ms` of its first sample if known."""
        if self._closed or self._vad is None:
            return
        if media_time_ms is not None:
            if self._expected_ms is not None and abs(media_time_ms - self._expected_ms) > 2:
                self._discontinuity()
            self._ms_offset = media_time_ms - self._pos / _PER_MS
            self._expected_ms = media_time_ms + pcm.size * 1000 / self.sample_rate
        audio = self._resampler.process(pcm) if self._resampler is not None else pcm
        self._buf.append(self._pos, audio.astype(np.float32) / 32768.0)
        self._pos += audio.size
        for t in self._vad.process(audio):
            for ev in self._ep.on_vad(t, self._vad.last_voice_sample):
                self._on_endpoint(ev)
            if self._utt is not None and t.state is VadState.SPEAKING:
                self._spec_as_partial(self._utt, self._vad.last_voice_sample)
        for ev in self._ep.advance(self._pos, self._vad.last_voice_sample):
            self._on_endpoint(ev)
        if self._utt is not None:
            if self._speculative and self._utt.spec is None:
                self._maybe_speculate(self._utt)
            self._maybe_end_early(self._utt)
            if self._utt is not None:  # not ended early
                self._maybe_partial(self._utt)
        else:
            self._buf.trim(self._pos - self._preroll)

    def end_input(self) -> None:
        """The caller's audio stopped (hang-up, hold, end of file): end an open utterance."""
        if self._vad is None:
            return
        for ev in self._ep.force_end(self._pos):
            self._on_endpoint(ev)

    def _discontinuity(self) -> None:
        self.end_input()
        if self._vad is not None:
            self._vad.reset()
        if self._resampler is not None:
            self._resampler.reset()

    # ----------------------------------------------------------- endpoints

    def _on_endpoint(self, ev: EndpointEvent) -> None:
        kind = ev.kind
        if kind is EndpointKind.SPEECH_BEGIN:
            self._count += 1
            self._utt = _Utterance(f"u{self._count}", ev.start, self._ms_offset)
            self._utt.partial_pos = ev.start
            self._emit(ListenEventKind.SPEECH_BEGIN, ev.start, self._utt)
        elif kind is EndpointKind.NO_INPUT:
            self._emit_event(ListenEvent(ListenEventKind.NO_INPUT, self.media_ms(ev.sample)))
        elif self._utt is not None:
            utt, self._utt = self._utt, None
            self._emit(ListenEventKind.SPEECH_END, ev.end, utt)
            if kind is EndpointKind.DISCARDED:
                self._drop_spec(utt)
                return
            self._finalise(utt, ev)

    def _audio_span(self, utt: _Utterance, last_voice: int) -> tuple[int, int]:
        """Pre-roll before the first voice, post-roll after the last: word edges the VAD
        scores low (a final "t", an unvoiced onset, worse on G.711) stay in the decode."""
        return max(0, utt.start - self._preroll), min(self._pos, last_voice + self._postroll)

    def _finalise(self, utt: _Utterance, ev: EndpointEvent) -> None:
        self.stats.utterances += 1
        utt.ended_at = self._clock.now()
        utt.end_pos = ev.end
        span = self._audio_span(utt, ev.end)
        utt.final_audio = span
        waiting = bool(self._pending) and self._use_context
        self._pending.append(utt)
        spec = utt.spec
        if (
            spec is not None
            and not waiting
            and utt.spec_audio == span
            and utt.spec_prompt == self._prompt()
            and not spec.cancelled()
        ):
            utt.final, utt.spec = spec, None
            self.stats.speculative_used += 1
            self._watch(spec, functools.partial(self._final_done, utt))
            return
        self._drop_spec(utt)
        utt.final_pcm = self._buf.slice(*span)
        if not waiting:
            self._submit_final(utt)
        # else: the previous final is still decoding and is this one's prompt;
        # `_final_done` submits this one when it lands (in real time it has).

    def _submit_final(self, utt: _Utterance) -> None:
        audio, utt.final_pcm = utt.final_pcm, None
        if audio is None:
            audio = self._buf.slice(*utt.final_audio)
        utt.final = self._submit(Lane.FINAL, audio, words=True)
        self._watch(utt.final, functools.partial(self._final_done, utt))

    def _maybe_speculate(self, utt: _Utterance) -> None:
        """`speculate_lead_ms` before the endpoint is due, decode what will be the final.

        Early enough that the decode is done when the endpoint fires; late
        enough that the short pauses inside an utterance (100 to 300 ms) do not
        each cost a decode that new speech throws away.
        """
        vad = self._vad
        if vad is None or vad.state not in (VadState.STOPPING, VadState.QUIET):
            return
        silence = self.settings.silence_ms * _PER_MS
        wait = max(self._postroll, silence - self._spec_lead)
        if self.settings.complete is not None:
            # The answer may be complete already: have its transcript ready by the
            # early end (a pause inside the answer wastes this decode).
            wait = min(wait, max(self._postroll, self.settings.early_silence_ms * _PER_MS // 2))
        if self._pos - vad.last_voice_sample < wait:
            return
        span = self._audio_span(utt, vad.last_voice_sample)
        if span == utt.spec_audio or span[1] - span[0] < self.settings.min_speech_ms * _PER_MS:
            return
        self.stats.speculative += 1
        utt.spec_audio = span
        utt.spec_prompt = self._prompt()
        utt.spec = self._submit(Lane.FINAL, self._buf.slice(*span), words=True)

    def _maybe_end_early(self, utt: _Utterance) -> None:
        """End the utterance now if the speculative transcript answers the question."""
        spec, vad, complete = utt.spec, self._vad, self.settings.complete
        if spec is None or vad is None or complete is None or utt.early_checked is spec:
            return
        if not spec.done() or vad.state not in (VadState.STOPPING, VadState.QUIET):
            return
        if self._pos - vad.last_voice_sample < self.settings.early_silence_ms * _PER_MS:
            return
        utt.early_checked = spec  # one look per transcript
        if spec.cancelled() or spec.exception() is not None:
            return
        decoded = spec.result()
        # A decode that looped was mended by a retry that may run past the audio
        # ("4, 5" in a pause came back as four digits): never end a turn on it.
        if decoded.fallback or not complete(decoded.text):
            return
        self.stats.early_ends += 1
        vad.release()  # the bot answers next: its echo or a breath must not resume this
        for ev in self._ep.force_end(self._pos):
            self._on_endpoint(ev)

    def _spec_as_partial(self, utt: _Utterance, resumed_at: int) -> None:
        """The caller went on after a pause: the pause's decode is this utterance's partial.

        Not started yet, it is cancelled. Already decoding (or done), it is what
        a partial would have decoded, so it is delivered as one, and the next
        partial waits for an interval of new speech: a pause costs no extra decode.
        """
        spec = utt.spec
        if spec is None or utt.partial is not None or spec.cancel():
            self._drop_spec(utt)
            return
        utt.spec = None
        utt.partial, utt.partial_pos = spec, resumed_at
        self._watch(spec, functools.partial(self._partial_done, utt, utt.spec_audio[1]))

    def _drop_spec(self, utt: _Utterance) -> None:
        if utt.spec is not None:
            utt.spec.cancel()
            utt.spec = None
            self.stats.speculative_wasted += 1

    # -------------------------------------------------------------- decodes

    def _submit(self, lane: Lane, audio: Audio, *, words: bool) -> Future[Decoded]:
        lang = None if self.language == "auto" else self.language
        engine = self._service.engine(self.language)
        s, config = self.settings, self._service.config
        partial = lane is Lane.PARTIAL
        job = functools.partial(
            engine.decode,
            audio,
            language=lang,
            candidates=config.languages,
            prompt=self._prompt(),
            hotwords=", ".join(s.hotwords) or None,
            words=words,
            beam_size=1 if partial else config.beam_size,
            window_s=min(config.partial_window_s, config.window_s) if partial else None,
            loop_fallback=not partial,
        )
        return self._service.executor.submit(lane, job)

    def _prompt(self) -> str | None:
        """The turn's prompt, then what the caller said so far in this turn.

        Whisper decodes each utterance alone; a short one after a pause ("ask
        not") is guessed without its sentence. Conditioning on the previous
        finals is what Whisper's own long-form decoding does.
        """
        parts = [p for p in (self.settings.prompt, self._context) if p]
        return " ".join(parts) or None

    def _maybe_partial(self, utt: _Utterance) -> None:
        interval = self.settings.partial_interval_ms * _PER_MS
        if not interval or utt.partial is not None or utt.spec is not None or self._vad is None:
            return  # a decode of this utterance is under way (a pause's one is a partial too)
        voiced_to = self._vad.last_voice_sample
        if voiced_to - utt.partial_pos < interval:
            return
        try:
            fut = self._submit(
                Lane.PARTIAL,
                self._buf.slice(max(0, utt.start - self._preroll), self._pos),
                words=False,
            )
        except Shed:
            self.stats.partials_shed += 1
            utt.partial_pos = voiced_to - interval + 100 * _PER_MS  # try again in 100 ms
            return
        utt.partial, utt.partial_pos = fut, voiced_to
        self._watch(fut, functools.partial(self._partial_done, utt, self._pos))

    def _watch(self, fut: Future[Decoded], then: Callable[[Future[Decoded]], None]) -> None:
        loop = self._loop

        def done(f: Future[Decoded]) -> None:
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed in between
                    loop.call_soon_threadsafe(then, f)

        fut.add_done_callback(done)

    def _partial_done(self, utt: _Utterance, pos: int, fut: Future[Decoded]) -> None:
        utt.partial = None
        if fut.cancelled() or fut.exception() is not None:
            if isinstance(fut.exception(), Shed):
                self.stats.partials_shed += 1
            return
        decoded = fut.result()
        if self._closed or self._utt is not utt or rejection(decoded, self._guards):
            return
        self.stats.partials += 1
        st = stability(utt.partial_text, decoded.text)
        utt.partial_text = decoded.text
        self._emit_event(
            ListenEvent(ListenEventKind.PARTIAL, self.media_ms(pos), utt.id, decoded.text,
                        stability=st, language=decoded.language,
                        start_ms=self.media_ms(utt.start), end_ms=self.media_ms(pos))
        )  # fmt: skip

    def _final_done(self, utt: _Utterance, fut: Future[Decoded]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            log.warning(
                "final decode failed", exc_info=fut.exception() if not fut.cancelled() else None
            )
            utt.failed = True
        else:
            utt.result = fut.result()
        while self._pending and (self._pending[0].result is not None or self._pending[0].failed):
            self._deliver(self._pending.popleft())
        head = self._pending[0] if self._pending else None
        if head is not None and head.final is None and not self._closed:
            self._submit_final(head)

    def _deliver(self, utt: _Utterance) -> None:
        decoded = utt.result
        if decoded is None:
            return
        if (
            self.language == "auto"
            and (utt.end_pos - utt.start) / SAMPLE_RATE >= _AUTO_MIN_S  # voiced, not padding
            and decoded.language_probability >= _AUTO_MIN_P
        ):
            self.language = decoded.language
        why = rejection(decoded, self._guards)
        if why is not None:
            self.stats.rejected += 1
            log.info("utterance dropped by the hallucination guard", extra={"reason": why})
            return
        wait_ms = (self._clock.now() - utt.ended_at) * 1000
        self.stats.finals += 1
        self.stats.final_wait_ms.append(wait_ms)
        base = utt.final_audio[0] / _PER_MS + utt.ms_offset
        words = tuple(
            WordTiming(w.text, round(base + w.start_s * 1000), round(base + w.end_s * 1000),
                       w.probability)
            for w in decoded.words
        )  # fmt: skip
        text = collapse_repeats(decoded.text)
        if text != decoded.text:
            words = words[: len(text.split())]
        if self._use_context:
            self._context = f"{self._context} {text}".strip()[-_CONTEXT_CHARS:]
        conf = sum(w.probability for w in words) / len(words) if words else 0.0
        self._emit_event(
            ListenEvent(ListenEventKind.FINAL, round(utt.end_pos / _PER_MS + utt.ms_offset),
                        utt.id, text, stability=1.0, confidence=conf, words=words,
                        language=decoded.language,
                        start_ms=round(utt.start / _PER_MS + utt.ms_offset),
                        end_ms=round(utt.end_pos / _PER_MS + utt.ms_offset), wait_ms=wait_ms)
        )  # fmt: skip

    # ---------------------------------------------------------------- output

    def _emit(self, kind: ListenEventKind, pos: int, utt: _Utterance) -> None:
        self._emit_event(
            ListenEvent(kind, self.media_ms(pos), utt.id, start_ms=self.media_ms(utt.start))
        )

    def _emit_event(self, event: ListenEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
        elif self._queue is not None:
            self._queue.put_nowait(event)
