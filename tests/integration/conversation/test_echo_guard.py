"""The bot's own voice coming back never starts caller speech; a caller over it still does."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pytest

from callbot.media.g711 import Pcm
from callbot.media.resample import StreamResampler
from callbot.models import load_manifest, model_file
from callbot.stt.feed import telephone
from callbot.stt.service import SttConfig
from callbot.stt.wavfile import read_wav
from callbot.turn.echo_guard import EchoGuard
from callbot.vad.base import VadState, VoiceActivityDetector
from callbot.vad.silero import SileroBackend, silero_session
from tests.conftest import speech_dir

pytestmark = pytest.mark.integration
RATE = 8000
FRAME = 160


@cache
def _session() -> object:
    spec = load_manifest().get("silero-vad-v6")
    return silero_session(model_file(spec, spec.files[0].name))


@cache
def _clip(name: str) -> Pcm:
    pcm, rate = read_wav(speech_dir() / f"{name}.wav")
    return telephone(pcm, rate)


def _bot() -> Pcm:
    # 9 s of continuous bot speech: two clips back to back.
    return np.concatenate((_clip("en_librivox_0870"), _clip("en_librivox_0920")))[: 9 * RATE]


def _onsets(gain_db: float, delay_ms: int, caller: np.ndarray | None, caller_at_s: float,
            guard_on: bool = True) -> list[float]:  # fmt: skip
    """Run bot + echo (+ caller) through the guard and the call's VAD; speech onsets (s)."""
    bot = _bot()
    delay = delay_ms * RATE // 1000
    gain = float(10 ** (gain_db / 20))
    echo = np.concatenate((np.zeros(delay), bot[: bot.size - delay].astype(np.float64))) * gain
    inbound = echo
    if caller is not None:
        at = int(caller_at_s * RATE)
        inbound = inbound.copy()
        inbound[at : at + caller.size] += caller[: inbound.size - at]
    inbound_pcm = np.clip(inbound, -32768, 32767).astype(np.int16)
    guard, hear = _guard_and_ears()
    onsets: list[float] = []
    for i in range(0, bot.size - FRAME + 1, FRAME):
        ms = i * 1000 / RATE
        guard.reference(bot[i : i + FRAME], ms)
        frame = inbound_pcm[i : i + FRAME]
        onsets += hear(guard.process(frame, ms) if guard_on else frame)
    return onsets


def _guard_and_ears() -> tuple[EchoGuard, Callable[[Pcm], list[float]]]:
    """A started guard, and the call's VAD: each frame in, the speech onsets (s) out."""
    guard = EchoGuard(RATE)
    guard.start()
    vad = VoiceActivityDetector(SileroBackend(_session()), 16000, SttConfig().vad_narrowband)
    up = StreamResampler(RATE, 16000)

    def hear(frame: Pcm) -> list[float]:
        return [t.sample / 16000 for t in vad.process(up.process(frame))
                if t.state is VadState.SPEAKING]  # fmt: skip

    return guard, hear


CASES = [(0, 0), (0, 20), (0, 40), (-6, 80), (-10, 120), (-20, 200), (-3, 150)]


@pytest.mark.parametrize(("gain_db", "delay_ms"), CASES)
def test_echo_alone_never_starts_speech(gain_db: float, delay_ms: int) -> None:
    assert _onsets(gain_db, delay_ms, None, 0) == []


def test_without_the_guard_the_echo_does_start_speech() -> None:
    assert _onsets(-10, 80, None, 0, guard_on=False)


@pytest.mark.parametrize(("gain_db", "delay_ms"), CASES)
def test_a_caller_over_the_echo_still_starts_speech(gain_db: float, delay_ms: int) -> None:
    bot, caller = _bot(), _clip("en_goforward").astype(np.float64)
    caller *= np.sqrt(np.mean(bot.astype(np.float64) ** 2) / np.mean(caller**2))  # same level
    first = np.flatnonzero(np.abs(caller) > 1000)[0] / RATE
    for at, late_s in ((1.5, 1.0), (5.0, 0.6)):  # while the canceller converges, and after
        onsets = _onsets(gain_db, delay_ms, caller, at)
        assert onsets, f"caller at {at} s not detected"
        assert at + first - 0.1 <= onsets[0] <= at + first + late_s, onsets


def test_without_echo_a_caller_over_the_bot_passes_untouched() -> None:
    """Most forks carry no echo: the canceller must not eat a caller who talks over the bot."""
    bot, caller = _bot(), _clip("en_goforward")
    rng = np.random.default_rng(7)
    inbound = rng.normal(0, 8, bot.size)  # line noise, no echo
    at = 5 * RATE
    inbound[at : at + caller.size] += caller[: bot.size - at]
    inbound_pcm = np.clip(inbound, -32768, 32767).astype(np.int16)
    guard = EchoGuard(RATE)
    guard.start()
    out = []
    for i in range(0, bot.size - FRAME + 1, FRAME):
        guard.reference(bot[i : i + FRAME], i / 8)
        out.append(guard.process(inbound_pcm[i : i + FRAME], i / 8))
    assert guard.echo_free
    heard = np.concatenate(out)
    # From a few seconds in (the verdict), the caller's audio is passed sample for sample.
    assert np.array_equal(heard[at:], inbound_pcm[at : heard.size])


def test_an_echo_that_appears_after_an_echo_free_verdict_is_gated_again() -> None:
    """The canceller rests on an echo-free call; a caller who turns on the speaker
    later brings the echo back, and the guard takes its verdict back and gates it."""
    bot = np.concatenate((_bot(), _bot()))
    rng = np.random.default_rng(7)
    inbound = rng.normal(0, 8, bot.size)
    at = 6 * RATE  # the echo starts here: -6 dB, 40 ms
    delay = 40 * RATE // 1000
    inbound[at:] += bot[at - delay : bot.size - delay] * 10 ** (-6 / 20)
    inbound_pcm = np.clip(inbound, -32768, 32767).astype(np.int16)
    guard = EchoGuard(RATE)
    guard.start()
    vad = VoiceActivityDetector(SileroBackend(_session()), 16000, SttConfig().vad_narrowband)
    up = StreamResampler(RATE, 16000)
    free_until = None
    onsets: list[float] = []
    for i in range(0, bot.size - FRAME + 1, FRAME):
        guard.reference(bot[i : i + FRAME], i / 8)
        clean = guard.process(inbound_pcm[i : i + FRAME], i / 8)
        if i == at:
            assert guard.echo_free
        if i > at and free_until is None and not guard.echo_free:
            free_until = i / RATE
        for t in vad.process(up.process(clean)):
            if t.state is VadState.SPEAKING:
                onsets.append(t.sample / 16000)
    assert free_until is not None and free_until < 6 + 2.5, free_until
    # Once the verdict is back, the echo never starts speech.
    assert [t for t in onsets if t > free_until + 0.5] == [], (free_until, onsets)


@pytest.mark.parametrize(("gain_db", "delay_ms"), [(0, 20), (0, 40), (-6, 80)])
def test_the_reply_after_a_caller_answer_is_not_heard_as_the_caller(
    gain_db: float, delay_ms: int
) -> None:
    """The bot talks, stops; the caller answers; the bot replies, each of its frames
    leaving just after the caller's frame of the same 20 ms (over RTP the pacer and the
    inbound packets keep no fixed order). The canceller, its far end padded with silence
    meanwhile, has to find the echo again, and the reply's first words used to pass the
    gate as caller speech (bench.turns: the bot paused about 250 ms into most replies)."""
    prompt, answer, reply = _bot()[: 6 * RATE], _clip("en_goforward"), _clip("en_librivox_0870")
    gap, tail = np.zeros(RATE * 8 // 10, dtype=np.int16), np.zeros(RATE // 10, dtype=np.int16)
    parts = ((prompt, True), (gap, False), (np.zeros_like(answer), False), (tail, False),
             (reply, True))  # fmt: skip
    bot = np.concatenate([p for p, _ in parts])
    talking = np.concatenate([np.full(p.size, flag) for p, flag in parts])
    delay = delay_ms * RATE // 1000
    echo = np.concatenate((np.zeros(delay), bot[: bot.size - delay].astype(np.float64)))
    inbound = echo * 10 ** (gain_db / 20)
    answer_at, reply_at = prompt.size + gap.size, bot.size - reply.size
    inbound[answer_at : answer_at + answer.size] += answer
    inbound_pcm = np.clip(inbound, -32768, 32767).astype(np.int16)
    guard, hear = _guard_and_ears()
    onsets: list[float] = []
    for i in range(0, bot.size - FRAME + 1, FRAME):
        # The bot's frames are the reference (silence is not sent); the reply's leave
        # after the caller's frame.
        if talking[i] and i < reply_at:
            guard.reference(bot[i : i + FRAME], i / 8)
        clean = guard.process(inbound_pcm[i : i + FRAME], i / 8)
        if talking[i] and i >= reply_at:
            guard.reference(bot[i : i + FRAME], i / 8)
        onsets += hear(clean)
    assert [t for t in onsets if t >= reply_at / RATE] == [], (reply_at / RATE, onsets)
    assert [t for t in onsets if answer_at / RATE - 0.2 < t < reply_at / RATE], onsets
