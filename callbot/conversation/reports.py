"""The bot's speech as the client and the call record see it (the Speaker's callbacks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callbot.conversation.speaker import Playing
from callbot.record import TurnRecord
from callbot.v1 import callbot_pb2 as pb

if TYPE_CHECKING:
    from callbot.conversation.handler import ConversationHandler

_STATE = pb.BotSpeechState


def bot_speech(h: ConversationHandler, p: Playing, state: pb.BotSpeechState.ValueType) -> None:
    h.port.send(pb.ServerMessage(bot_speech=pb.BotSpeech(
        utterance_id=p.utt.id, text=p.utt.record_text, state=state,
        allow_interruptions=p.utt.allow_interruptions)))  # fmt: skip


def started(h: ConversationHandler, p: Playing) -> None:
    h.backchannel_is_answer = p.backchannel_is_answer
    bot_speech(h, p, _STATE.BOT_SPEECH_STATE_STARTED)


def first_frame(h: ConversationHandler, p: Playing) -> None:
    """The answer's first audio left: the caller turn it answers has all its marks."""
    t = h.log.answering
    if t is not None and not t.sent:
        t.first_tts_audio_ms = p.first_audio_ms
        t.first_outbound_frame_ms = p.first_frame_ms
        h.log.send(t)


def finished(h: ConversationHandler, p: Playing) -> None:
    if h.closed:
        return
    if not p.interrupted:
        h.arbiter.bot_finished()
        if h.port.outbound is not None and h.port.outbound.paused:
            h.port.outbound.resume()
    state = _STATE.BOT_SPEECH_STATE_FINISHED
    details: dict[str, object] = {"utterance_id": p.utt.id, "interrupted": p.interrupted}
    if p.interrupted:
        state = _STATE.BOT_SPEECH_STATE_INTERRUPTED
        details["played_ms"] = p.played * 1000 // h.sample_rate
    bot_speech(h, p, state)
    end = h.port.media_time_ms
    turn = TurnRecord("bot", "speech", p.start_ms, end, p.utt.record_text, details=details)
    h.port.record.turns.append(turn)
