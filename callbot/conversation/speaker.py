"""Plays the bot's utterances in order: TTS (or the prompt cache) into the outbound audio.

Work items run one at a time on one task: an utterance is synthesized piece
by piece and each piece is queued for the pacer as soon as it is ready; a
step (turn settings, an action) runs once everything before it was played.
A tap on the outbound audio says which samples of which utterance actually
left, so an interruption knows what the caller heard. In GRPC media mode what
left is not what was heard (the client buffers ahead of its playout), so
there the heard position comes only from the client's `playback_mark` acks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field

from callbot.dialog.events import BotUtterance
from callbot.media.outbound import OutboundAudio, OutFrame
from callbot.tts.errors import TtsError
from callbot.tts.service import TtsService
from callbot.tts.stream import SpeechChunk

log = logging.getLogger(__name__)


@dataclass
class Playing:
    """One utterance being (or having been) played."""

    utt: BotUtterance
    backchannel_is_answer: bool
    pieces: list[tuple[str, int, int]] = field(default_factory=list)  # text, start, speech end
    pushed: int = 0  # samples queued
    sent: int = 0  # samples handed to the transport
    played: int = 0  # samples the caller heard: sent (RTP, SIP) or acknowledged (GRPC marks)
    synthesized: bool = False
    interrupted: bool = False
    start_ms: int = 0
    first_audio_ms: int = 0
    first_frame_ms: int = 0
    last_frame_ms: int = 0
    frames: int = 0  # frames of it sent
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def heard_text(self, samples: int) -> str:
        """The words of the pieces up to `samples`; a partly played piece by its share."""
        words: list[str] = []
        for text, start, end in self.pieces:
            if samples >= end:
                words.extend(text.split())
            elif samples > start:
                share = (samples - start) / max(1, end - start)
                piece = text.split()
                words.extend(piece[: int(len(piece) * share)])
                break
            else:
                break
        return " ".join(words)


Step = Callable[[], None]


class Speaker:
    """`say()` and `then()` queue work; `run()` is the call's playout task body."""

    def __init__(
        self,
        tts: TtsService,
        outbound: OutboundAudio,
        *,
        sample_rate: int,
        now_ms: Callable[[], int],
        on_started: Callable[[Playing], None],
        on_first_frame: Callable[[Playing], None],
        on_finished: Callable[[Playing], None],
        played_from_marks: bool = False,
    ) -> None:
        self._tts = tts
        self._out = outbound
        self._rate = sample_rate
        self._now = now_ms
        self._on_started = on_started
        self._on_first_frame = on_first_frame
        self._on_finished = on_finished
        self._items: deque[Playing | Step] = deque()
        self._wake = asyncio.Event()
        self.current: Playing | None = None
        self._closed = False
        self._from_marks = played_from_marks
        # GRPC: (frame number, 1-based as marks a<n>; utterance id; its samples up to that frame),
        # oldest first; acked frames leave it.
        self._frames: deque[tuple[int, str, int]] = deque(maxlen=3000)
        outbound.add_tap(self._on_frame)

    @property
    def speaking(self) -> bool:
        p = self.current
        return p is not None and p.pushed > 0 and not p.done.is_set()

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self._items)

    def say(self, utt: BotUtterance, *, backchannel_is_answer: bool = False) -> None:
        self._items.append(Playing(utt, backchannel_is_answer))
        self._wake.set()

    def then(self, step: Step) -> None:
        self._items.append(step)
        self._wake.set()

    def interrupt(self) -> Playing | None:
        """Drop the rest of the current utterance and every queued one; steps stay."""
        self._items = deque(i for i in self._items if not isinstance(i, Playing))
        p = self.current
        if p is not None:
            p.interrupted = True
            p.done.set()
        return p

    def played_from_acks(self, acked_frames: int) -> None:
        """GRPC mode: the client played up to frame `acked_frames` (its playback marks)."""
        p = self.current
        frames = self._frames
        while frames and frames[0][0] <= acked_frames:
            _, utt_id, upto = frames.popleft()
            if p is not None and utt_id == p.utt.id and not p.interrupted:
                p.played = max(p.played, upto)

    def close(self) -> None:
        self._closed = True
        self.interrupt()
        self._wake.set()

    async def run(self) -> None:
        while not self._closed:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._items.popleft()
            if isinstance(item, Playing):
                await self._play(item)
            else:
                item()

    async def _play(self, p: Playing) -> None:
        self.current = p
        p.start_ms = self._now()
        self._on_started(p)
        try:
            async with contextlib.aclosing(self._chunks(p)) as chunks:
                await self._push_all(p, chunks)
            if not p.interrupted:
                self._out.flush()
                p.synthesized = True
                if p.pushed == 0 or p.sent >= p.pushed:
                    p.done.set()
                await p.done.wait()
        except TtsError:
            log.warning("speech synthesis failed; the utterance is skipped", exc_info=True)
        finally:
            self.current = None
            p.done.set()
            self._on_finished(p)

    async def _push_all(self, p: Playing, chunks: AsyncIterator[SpeechChunk]) -> None:
        async for chunk in chunks:
            if p.interrupted or self._closed:
                return
            if not p.pieces:
                p.first_audio_ms = self._now()
            p.pieces.append((chunk.text, p.pushed, p.pushed + chunk.speech_samples))
            p.pushed += chunk.pcm.size
            self._out.push(chunk.pcm, p.utt.id)

    async def _chunks(self, p: Playing) -> AsyncGenerator[SpeechChunk, None]:
        utt = self._tts.voice(utt_language(self._tts, p.utt.language))
        cached = self._tts.cached(utt.info.language, p.utt.text, self._rate)
        if cached is not None:
            for chunk in cached:
                yield chunk
            return
        stream = self._tts.stream(utt.info.language, self._rate)
        async with stream:
            stream.push(p.utt.text)
            stream.end_input()
            async for chunk in stream:
                yield chunk
                if p.interrupted:
                    return

    def _on_frame(self, frame: OutFrame) -> None:
        upto = frame.utterance_offset + frame.pcm.size
        if self._from_marks:
            self._frames.append((self._out.frames_sent, frame.utterance_id, upto))
        p = self.current
        if p is None or frame.utterance_id != p.utt.id or p.interrupted:
            return
        p.last_frame_ms = self._now()
        if not p.frames:  # not first_frame_ms: media time 0 is a real time
            p.first_frame_ms = p.last_frame_ms
            self._on_first_frame(p)
        p.frames += 1
        p.sent = max(p.sent, upto)
        if not self._from_marks:
            p.played = p.sent
        if p.synthesized and p.sent >= p.pushed:
            p.done.set()


def utt_language(tts: TtsService, language: str) -> str:
    """The utterance's language if a voice speaks it, else the first loaded voice's."""
    if tts.can_speak(language):
        return language
    for candidate in tts.config.voices:
        if tts.can_speak(candidate):
            return candidate
    return language


async def cancel_task(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
