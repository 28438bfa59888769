"""The real voices: Piper joe (neural, English) and espeak-ng Korean (non-neural fallback)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from callbot.conversation.handler import ConversationDeps
from callbot.media.resample import resample
from callbot.tts.service import TtsConfig, TtsService

pytestmark = pytest.mark.integration


def _rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


async def test_piper_joe_streams_the_first_clause_first_at_the_call_rate() -> None:
    tts = TtsService(TtsConfig(voices={"en": "piper:joe"}))
    tts.load(["en"])
    assert tts.voice("en").info.neural
    text = ("For a lost or stolen card, say lost card or press one, and for anything else, "
            "please stay on the line. Thank you.")  # fmt: skip
    t0 = time.perf_counter()
    firsts: list[float] = []
    chunks = []
    async with tts.stream("en", 8000) as stream:
        stream.push(text)
        stream.end_input()
        async for chunk in stream:
            firsts.append(time.perf_counter() - t0)
            chunks.append(chunk)
    print(f"piper joe 8 kHz: first chunk {firsts[0] * 1000:.0f} ms, all {firsts[-1] * 1000:.0f} ms")
    assert chunks[0].text == "For a lost or stolen card,"
    assert chunks[0].first and not chunks[1].first
    audio = np.concatenate([c.pcm for c in chunks])
    assert 3.0 < audio.size / 8000 < 15.0 and _rms(audio) > 300
    assert firsts[0] < firsts[-1]


async def test_espeak_ng_korean_speaks_and_says_it_is_not_neural() -> None:
    tts = TtsService(TtsConfig(voices={"ko": "espeak-ng:ko"}))
    tts.load(["ko"])
    info = tts.voice("ko").info
    assert not info.neural and info.name == "espeak-ng:ko"
    async with tts.stream("ko", 16000) as stream:
        stream.push("안녕하세요. 카드 분실 신고를 도와드리겠습니다.")
        stream.end_input()
        chunks = [c async for c in stream]
    assert len(chunks) == 2
    audio = np.concatenate([c.pcm for c in chunks])
    assert 1.0 < audio.size / 16000 < 10.0 and _rms(audio) > 300


async def test_a_cached_head_and_the_synthesized_rest_join_into_one_clear_sentence(
    deps: ConversationDeps,
) -> None:
    """The demo flow's "I will block the card ending in {last4}." plays its cached head at
    once; joined to the digits Piper says next, tiny.en still hears the whole sentence."""
    tts = deps.tts
    async with tts.stream("en", 8000) as stream:
        stream.push("I will block the card ending in four five six seven.")
        stream.end_input()
        chunks = [c async for c in stream]
    assert [c.text for c in chunks] == ["I will block the card ending in", "four five six seven."]
    head, rest = chunks
    assert head.pcm.size == head.speech_samples  # no pause: the sentence goes on
    audio = np.concatenate((head.pcm, rest.pcm))
    words = np.flatnonzero(
        np.abs(audio[head.speech_samples - 1600 : head.speech_samples + 1600]) > 300
    )
    gap = int(np.diff(words).max()) / 8
    assert gap < 120, f"{gap} ms of silence between the head and the digits"
    up = (resample(audio, 8000, 16000) / 32768).astype(np.float32)
    heard = deps.stt.engine("en").decode(up, language="en", words=False).text
    assert "block the card ending in" in heard.lower(), heard
    assert re.sub(r"\D", "", heard) == "4567" or "four five six seven" in heard.lower(), heard
