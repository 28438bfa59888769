"""A mixed fork (0 dB echo): the bot's reply right after the caller's answer is not
interrupted by its own voice coming back."""

from __future__ import annotations

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
_STATE = pb.BotSpeechState


async def test_the_reply_after_an_answer_is_not_cut_by_its_own_echo(
    deps: ConversationDeps,
) -> None:
    port = FakePort()
    port.echo = (1.0, 1)
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        await through_first_ask(port, h.on_audio)
        await feed(port, h.on_audio, silence_ms(400))
        answered_at = port.media_time_ms
        await feed(port, h.on_audio, espeak_caller("My card was stolen."))
        await feed(port, h.on_audio, silence_ms(5000))
    finally:
        await h.aclose()
    later = [
        (t, m.bot_speech.text, m.bot_speech.state)
        for m in port.of("bot_speech")
        if (t := m.media_time_ms) > answered_at
    ]
    assert any("last four digits" in text for _, text, _ in later), later
    assert not [s for s in later if s[2] == _STATE.BOT_SPEECH_STATE_PAUSED], later
    assert port.of("barge_in") == []
