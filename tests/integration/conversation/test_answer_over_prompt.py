"""A caller who answers over the bot's question is heard with that question's settings."""

from __future__ import annotations

import numpy as np
import pytest

from callbot.clock import LoopClock
from callbot.conversation.handler import ConversationDeps, ConversationHandler
from callbot.v1 import callbot_pb2 as pb
from tests.integration.conversation.fakes import (
    FakePort,
    espeak_caller,
    feed,
    silence_ms,
    through_first_ask,
)

pytestmark = pytest.mark.integration


def _trimmed(text: str) -> np.ndarray:
    pcm = espeak_caller(text)
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0] : loud[-1] + 1]


async def test_digits_said_over_the_digits_prompt_wait_out_the_digits_silence(
    deps: ConversationDeps,
) -> None:
    """The intent ask before it ends a turn after 800 ms of silence, the digits ask after
    1200 ms: "four … five six seven" with a 1 s pause, spoken over the digits prompt, must
    not be cut after "four" (it was: the new ask's settings waited for its prompt's end)."""
    port = FakePort()
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        await through_first_ask(port, h.on_audio)
        await feed(port, h.on_audio, silence_ms(300))
        await feed(port, h.on_audio, espeak_caller("My card was stolen."))
        for _ in range(300):  # until the digits prompt is playing
            await feed(port, h.on_audio, silence_ms(20))
            lines = [m.bot_speech.text for m in port.of("bot_speech")]
            if lines and "last four digits" in lines[-1] and port.bot_speaking():
                break
        assert "last four digits" in lines[-1] and port.bot_speaking(), lines
        # The digits ask's settings hold from the moment its prompt starts.
        assert h.listener is not None and h.listener.settings.silence_ms == 1200
        started = port.media_time_ms
        digits = np.concatenate((_trimmed("four"), silence_ms(1000), _trimmed("five six seven")))
        await feed(port, h.on_audio, digits)
        await feed(port, h.on_audio, silence_ms(2000))
    finally:
        await h.aclose()
    ends = [
        m
        for m in port.of("speech")
        if m.media_time_ms > started and m.speech.type == pb.SPEECH_EVENT_TYPE_END
    ]
    assert len(ends) == 1, [m.media_time_ms for m in ends]  # one answer, not "four" + the rest
