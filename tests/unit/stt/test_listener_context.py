"""Listener with a fake model: previous finals prompt the next decode, in order, at any speed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from callbot.clock import LoopClock
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings
from callbot.stt.listener import Listener
from callbot.stt.whisper import Decoded
from callbot.vad.base import Float, VadParams, VoiceActivityDetector
from callbot.workers import LaneExecutor

RATE = 16000


class _Loud:
    sample_rate = RATE
    frame_samples = 512

    def probability(self, frame: Float) -> float:
        return 0.9 if float(np.abs(frame).max()) > 0.1 else 0.05

    def reset(self) -> None:
        pass


class _Engine:
    """Answers "alpha", "beta", …; the first decode waits for `gate`."""

    def __init__(self) -> None:
        self.prompts: list[str | None] = []
        self.started = threading.Event()
        self.gate = threading.Event()

    def decode(self, audio: Any, *, prompt: str | None = None, **_: Any) -> Decoded:
        n = len(self.prompts)
        self.prompts.append(prompt)
        self.started.set()
        if n == 0:
            self.gate.wait()
        text = ("alpha", "beta", "gamma")[n]
        return Decoded(text, (), "en", 1.0, -0.2, 0.05, 1.2, audio.size / RATE, 15.0)


class _Config:
    languages = ("en", "ko")
    beam_size = 5
    window_s = 15.0
    partial_window_s = 10.0


class _Service:
    def __init__(self, engine: _Engine) -> None:
        self.executor = LaneExecutor(1)
        self.config = _Config()
        self._engine = engine

    def engine(self, language: str) -> _Engine:
        return self._engine

    def new_vad(self, sample_rate: int, *, narrowband: bool = False) -> VoiceActivityDetector:
        return VoiceActivityDetector(_Loud(), sample_rate, VadParams())


def _speech(pattern: list[tuple[bool, int]]) -> np.ndarray:
    return np.concatenate(
        [np.full(RATE * ms // 1000, 8000 if loud else 0, dtype=np.int16) for loud, ms in pattern]
    )


def _started(engine: _Engine, settings: TurnSettings,
             **kw: Any) -> tuple[_Service, Listener, list[ListenEvent]]:  # fmt: skip
    """A started executor and listener on `engine`, and the list its events go to."""
    service = _Service(engine)
    service.executor.start()
    events: list[ListenEvent] = []
    listener = Listener(service, sample_rate=RATE, clock=LoopClock(), settings=settings,  # type: ignore[arg-type]
                        on_event=events.append, **kw)  # fmt: skip
    listener.start()
    return service, listener, events


async def _two_utterances(*, context: bool) -> tuple[_Engine, list[ListenEvent], int]:
    engine = _Engine()
    settings = TurnSettings(silence_ms=500, partial_interval_ms=0, prompt=None)
    service, listener, events = _started(engine, settings, speculative=False, context=context)
    audio = _speech([(False, 300), (True, 600), (False, 800), (True, 600), (False, 800)])
    try:
        for i in range(0, audio.size, 320):
            listener.push(audio[i : i + 320])
            await asyncio.sleep(0)
        assert await asyncio.to_thread(engine.started.wait, 60)
        queued_while_blocked = service.executor.backlog
        engine.gate.set()
        await listener.aclose(timeout_s=60)
    finally:
        engine.gate.set()
        service.executor.shutdown()
    return engine, events, queued_while_blocked


async def test_a_final_waits_for_the_previous_one_and_is_prompted_with_it() -> None:
    engine, events, queued = await _two_utterances(context=True)
    assert queued == 0  # both utterances ended; the second is held until the first lands
    assert engine.prompts == [None, "alpha"]
    finals = [e for e in events if e.kind is ListenEventKind.FINAL]
    assert [(e.utterance_id, e.text) for e in finals] == [("u1", "alpha"), ("u2", "beta")]


async def test_without_context_finals_do_not_wait() -> None:
    engine, events, queued = await _two_utterances(context=False)
    assert queued == 1  # queued at once behind the first
    assert engine.prompts == [None, None]
    finals = [e.text for e in events if e.kind is ListenEventKind.FINAL]
    assert finals == ["alpha", "beta"]  # delivered in order all the same


@pytest.mark.parametrize("prompt", ["Card names.", None])
async def test_set_turn_clears_the_context(prompt: str | None) -> None:
    engine = _Engine()
    engine.gate.set()
    settings = TurnSettings(silence_ms=500, partial_interval_ms=0)
    service, listener, _ = _started(engine, settings, speculative=False)
    try:
        for pattern in ([(True, 600), (False, 800)], [(True, 600), (False, 800)]):
            audio = _speech(pattern)
            for i in range(0, audio.size, 320):
                listener.push(audio[i : i + 320])
                await asyncio.sleep(0)
            while len(engine.prompts) < 1 or listener._pending:
                await asyncio.sleep(0.01)
            listener.set_turn(TurnSettings(silence_ms=500, partial_interval_ms=0, prompt=prompt))
        await listener.aclose(timeout_s=60)
    finally:
        service.executor.shutdown()
    assert engine.prompts == [None, prompt]  # the first answer is not the second's context


class _Recording(_Engine):
    def __init__(self) -> None:
        super().__init__()
        self.gate.set()
        self.calls: list[dict[str, Any]] = []

    def decode(self, audio: Any, *, prompt: str | None = None, **kw: Any) -> Decoded:
        self.calls.append(kw)
        return Decoded("alpha", (), "en", 1.0, -0.2, 0.05, 1.2, audio.size / RATE, 15.0)


async def _listen(engine: _Recording, settings: TurnSettings, pattern: list[tuple[bool, int]],
                  **kw: Any) -> Listener:  # fmt: skip
    """One utterance through a listener on `engine`, to the end of its decodes."""
    service, listener, _ = _started(engine, settings, **kw)
    audio = _speech(pattern)
    try:
        for i in range(0, audio.size, 320):
            listener.push(audio[i : i + 320])
            await asyncio.sleep(0.001)
        await listener.aclose(timeout_s=60)
    finally:
        service.executor.shutdown()
    return listener


async def test_partials_are_greedy_on_the_short_window_and_never_fall_back() -> None:
    engine = _Recording()
    settings = TurnSettings(silence_ms=500, partial_interval_ms=300, prompt=None)
    await _listen(engine, settings, [(False, 200), (True, 1500), (False, 800)], speculative=False)
    partials = [c for c in engine.calls if c["beam_size"] == 1]
    finals = [c for c in engine.calls if c["beam_size"] == 5]
    assert partials and len(finals) == 1
    assert all(c["window_s"] == 10.0 and not c["loop_fallback"] for c in partials)
    assert finals[0]["window_s"] is None and finals[0]["loop_fallback"]


async def test_a_pause_decode_is_the_partial_when_the_caller_goes_on() -> None:
    """Speech, a pause long enough for a speculative decode, more speech: that decode
    is delivered as the partial instead of being thrown away, and no partial is
    decoded again on resuming (before, the pause counted towards the interval)."""
    engine = _Recording()
    settings = TurnSettings(silence_ms=1000, partial_interval_ms=500, prompt=None)
    service, listener, events = _started(engine, settings)

    async def push(pattern: list[tuple[bool, int]]) -> None:
        audio = _speech(pattern)
        for i in range(0, audio.size, 320):
            listener.push(audio[i : i + 320])
            await asyncio.sleep(0.001)

    try:
        await push([(False, 200), (True, 600), (False, 700)])
        while len(engine.calls) < 2:  # the partial at 500 ms, then the pause's decode
            await asyncio.sleep(0.01)
        await push([(True, 400), (False, 1200)])
        await listener.aclose(timeout_s=60)
    finally:
        service.executor.shutdown()
    beams = [c["beam_size"] for c in engine.calls]
    assert beams == [1, 5, 5]  # partial, the pause's decode, the final's
    partials = [e for e in events if e.kind is ListenEventKind.PARTIAL]
    assert len(partials) == 2
    assert partials[1].media_time_ms > 800  # the pause's decode covers all the first speech
    assert [e.kind for e in events].count(ListenEventKind.FINAL) == 1


class _Looped(_Recording):
    def decode(self, audio: Any, *, prompt: str | None = None, **kw: Any) -> Decoded:
        self.calls.append(kw)
        return Decoded("4 5 6 7", (), "en", 1.0, -0.2, 0.05, 1.2, audio.size / RATE, 15.0,
                       fallback="penalty")  # fmt: skip


@pytest.mark.parametrize(("engine", "early"), [(_Recording(), True), (_Looped(), False)])
async def test_a_turn_never_ends_early_on_a_decode_that_looped(engine: _Recording,
                                                               early: bool) -> None:  # fmt: skip
    """The listener asks whether the pause's transcript answers the question; one mended
    after a loop is not trusted (its retry may have written digits not yet said)."""
    settings = TurnSettings(silence_ms=1200, partial_interval_ms=0, complete=lambda t: True)
    listener = await _listen(engine, settings, [(False, 200), (True, 600), (False, 1400)])
    assert listener.stats.early_ends == (1 if early else 0)
