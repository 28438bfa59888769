"""SynthesizeStream: text pieces in, PCM at the call's rate out, in order, as soon as ready."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import numpy as np

from callbot.media.g711 import Pcm
from callbot.media.resample import resample
from callbot.tts.base import Synthesizer, silence, trimmed
from callbot.tts.errors import SynthesisFailed, TtsError
from callbot.tts.text import JOIN_LEAD_MS, pause_after_ms, speech_pieces, take_complete
from callbot.workers import Lane, LaneExecutor

RunJob = Callable[[bool, Callable[[], Pcm]], Awaitable[Pcm]]


def job_runner(executor: LaneExecutor | None) -> RunJob:
    """First pieces in the FRONT lane, later ones in FINAL; the loop's pool without one."""

    def run(first: bool, fn: Callable[[], Pcm]) -> Awaitable[Pcm]:
        if executor is None:
            return asyncio.get_running_loop().run_in_executor(None, fn)
        return asyncio.wrap_future(executor.submit(Lane.FRONT if first else Lane.FINAL, fn))

    return run


@dataclass(frozen=True)
class SpeechChunk:
    """Audio for one piece of text, at the stream's rate (pause after it included)."""

    pcm: Pcm
    text: str
    first: bool
    speech_samples: int  # before the trailing pause


class PieceSource(Protocol):
    """Pieces synthesized ahead of time, for one voice at one call rate."""

    def head_of(self, sentence: str) -> str | None:
        """A cached head that `sentence` starts with (then more words follow), if any."""

    def piece(self, text: str) -> SpeechChunk | None: ...


class SynthesizeStream:
    """`push(text)`… `flush()`/`end_input()`; `async for chunk in stream`; `aclose()`.

    Pieces are synthesized one ahead of playback: the next one starts when
    the current one is handed out, so a long utterance never queues every
    sentence on the shared executor at once.
    """

    def __init__(
        self,
        synth: Synthesizer,
        *,
        sample_rate: int,
        run: RunJob,
        max_first_chars: int = 60,
        cached: PieceSource | None = None,
    ) -> None:
        self._synth = synth
        self.sample_rate = sample_rate
        self._run = run
        self._max_first = max_first_chars
        self._cached = cached
        self._buffer = ""
        self._pieces: deque[tuple[str, bool]] = deque()  # (text, continues a cached head)
        self._ended = False
        self._first = True
        self._wake: asyncio.Event | None = None
        # (text, first, audio with its pause, speech samples when known ahead)
        self._inflight: deque[tuple[str, bool, asyncio.Future[Pcm], int | None]] = deque()
        self._started = False
        self._closed = False

    # ---------------------------------------------------------------- input

    def push(self, text: str) -> None:
        """More text; whole sentences become pieces at once."""
        if self._ended:
            raise TtsError("push() after end_input()")
        done, self._buffer = take_complete(self._buffer + text)
        for sentence in done:
            self._add(sentence)

    def flush(self) -> None:
        """End of a segment: what is buffered becomes pieces now."""
        rest, self._buffer = self._buffer.strip(), ""
        if rest:
            self._add(rest)

    def end_input(self) -> None:
        self.flush()
        self._ended = True
        self._poke()

    def _add(self, sentence: str) -> None:
        cached = self._cached
        if cached is not None and cached.piece(sentence) is not None:
            self._pieces.append((sentence, False))  # cached whole: no cut
        elif cached is not None and (head := cached.head_of(sentence)) is not None:
            # Its cached audio plays while the rest is synthesized.
            self._pieces.extend(((head, False), (sentence[len(head) :].strip(), True)))
        else:
            pieces = speech_pieces(sentence, first=self._first, max_first_chars=self._max_first)
            self._pieces.extend((p, False) for p in pieces)
        self._first = False
        self._poke()

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # --------------------------------------------------------------- output

    def _start_next(self) -> None:
        if not self._pieces:
            return
        text, continues = self._pieces.popleft()
        first, self._started = not self._started, True
        synth, rate = self._synth, self.sample_rate
        ready = self._cached.piece(text) if self._cached is not None else None
        if ready is not None:
            done: asyncio.Future[Pcm] = asyncio.get_running_loop().create_future()
            done.set_result(ready.pcm)
            self._inflight.append((text, first, done, ready.speech_samples))
            return

        def job() -> Pcm:
            native = synth.synthesize(text)
            if continues:
                native = trimmed(native, synth.info.sample_rate, lead_ms=JOIN_LEAD_MS)
            pcm = resample(native, synth.info.sample_rate, rate)
            return np.concatenate((pcm, silence(rate, pause_after_ms(text))))

        fut = asyncio.ensure_future(self._run(first, job))
        self._inflight.append((text, first, fut, None))

    async def __aiter__(self) -> AsyncIterator[SpeechChunk]:
        self._wake = asyncio.Event()
        while not self._closed:
            if not self._inflight:
                self._start_next()
            if not self._inflight:
                if self._ended:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            text, first, fut, speech_samples = self._inflight[0]
            try:
                pcm = await fut
            except TtsError:
                raise
            except Exception as exc:
                raise SynthesisFailed(f"synthesis failed: {type(exc).__name__}") from exc
            finally:
                self._inflight.popleft()
            self._start_next()  # one ahead while this piece plays
            if speech_samples is None:
                speech_samples = pcm.size - self.sample_rate * pause_after_ms(text) // 1000
            yield SpeechChunk(pcm, text, first, max(0, speech_samples))

    async def aclose(self) -> None:
        """Stop: pieces not yet handed out are dropped (their jobs finish unseen)."""
        self._closed = True
        self._pieces.clear()
        while self._inflight:
            _, _, fut, _ = self._inflight.popleft()
            fut.cancel()
            with contextlib.suppress(BaseException):
                await fut
        self._poke()

    async def __aenter__(self) -> SynthesizeStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
