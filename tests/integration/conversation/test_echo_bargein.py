"""Through the whole handler: the bot's own voice looped back never barges in; a caller does."""

from __future__ import annotations

import numpy as np
import pytest

from callbot.clock import LoopClock
from callbot.conversation.handler import ConversationDeps, ConversationHandler
from callbot.v1 import callbot_pb2 as pb
from tests.integration.conversation.fakes import FakePort, espeak_caller, feed, silence_ms

pytestmark = pytest.mark.integration
_STATE = pb.BotSpeechState


def _states(port: FakePort) -> list[tuple[int, str, int]]:
    return [(m.media_time_ms, m.bot_speech.text, m.bot_speech.state) for m in port.of("bot_speech")]


def _log(port: FakePort) -> str:
    return "\n".join(
        f"{m.media_time_ms} {m.WhichOneof('message')} {m.bot_speech.text or m.transcript.text!r}"
        f" {m.bot_speech.state or ''}"
        for m in port.messages
        if m.WhichOneof("message") in ("bot_speech", "transcript", "barge_in", "speech")
    )


async def test_echo_at_0_db_never_barges_in_but_a_caller_over_it_does(
    deps: ConversationDeps,
) -> None:
    port = FakePort()
    port.echo = (1.0, 1)  # 0 dB, 20 ms: a mixed fork where the bot hears itself
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        # The greeting and the first ask (~8 s of bot speech) with only its echo coming back.
        await feed(port, h.on_audio, silence_ms(200))
        assert port.bot_speaking(), _log(port)
        prompt = ""
        for _ in range(400):  # until 2 s into "How can I help you today? …"
            await feed(port, h.on_audio, silence_ms(20))
            started = [
                (t, s) for t, s, st in _states(port) if st == _STATE.BOT_SPEECH_STATE_STARTED
            ]
            if started and "How can I help" in started[-1][1]:
                prompt = started[-1][1]
                if port.media_time_ms - started[-1][0] >= 2000:
                    break
        assert prompt, _log(port)
        assert port.bot_speaking()
        assert port.of("barge_in") == [], _log(port)
        assert not [s for s in _states(port) if s[2] == _STATE.BOT_SPEECH_STATE_PAUSED], _log(port)
        assert not [m for m in port.of("speech") if m.speech.type == pb.SPEECH_EVENT_TYPE_BEGIN]

        # Now the caller talks over the bot (its echo still mixed in).
        talk = espeak_caller("I lost my card, please block it right away.")
        onset = port.media_time_ms + int(np.flatnonzero(np.abs(talk) > 500)[0] / 8)
        await feed(port, h.on_audio, talk)
        await feed(port, h.on_audio, silence_ms(2000))
    finally:
        await h.aclose()
    paused = [t for t, _, st in _states(port) if st == _STATE.BOT_SPEECH_STATE_PAUSED]
    assert paused and onset <= paused[0] <= onset + 900, _log(port)
    barge = port.of("barge_in")
    assert len(barge) == 1, _log(port)
    assert barge[0].barge_in.planned_text == prompt
    assert barge[0].barge_in.played_ms >= 1800, barge[0]
    interrupted = barge[0].barge_in.utterance_id
    last = max(ms for ms, f in port.frames if f.utterance_id == interrupted)
    assert last <= onset + 900  # the outbound audio stopped with the caller's onset (+ VAD)
