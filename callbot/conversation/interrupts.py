"""Carrying out the barge-in arbiter's verdicts on the call: pause, resume, discard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callbot.conversation.reports import bot_speech
from callbot.conversation.speaker import Playing
from callbot.dialog import events as ev
from callbot.turn.bargein import BargeInTimes, Verdict
from callbot.v1 import callbot_pb2 as pb

if TYPE_CHECKING:
    from callbot.conversation.handler import ConversationHandler

_STATE = pb.BotSpeechState


def apply_verdict(h: ConversationHandler, verdict: Verdict) -> None:
    out = h.port.outbound
    p = h.speaker.current if h.speaker is not None else None
    if verdict is Verdict.NONE or out is None:
        return
    if verdict is Verdict.PAUSE:
        h.port.pause_outbound()
        if p is not None:
            bot_speech(h, p, _STATE.BOT_SPEECH_STATE_PAUSED)
    elif verdict in (Verdict.RESUME, Verdict.FALSE_ONSET):
        h.port.resume_outbound()
        if p is not None:
            bot_speech(h, p, _STATE.BOT_SPEECH_STATE_RESUMED)
        # A backchannel's barge-in marks go out; a false onset was no barge-in at all.
        if verdict is Verdict.RESUME and h.arbiter.last is not None:
            h.log.send(h.log.barge(f"bc{h.port.media_time_ms}", h.arbiter.last))
    else:
        discard(h, p, h.arbiter.last)


def discard(h: ConversationHandler, p: Playing | None, barge: BargeInTimes | None = None) -> None:
    """Drop the rest of the bot's turn; tell the client and the dialogue what was heard.

    `barge`: the caller utterance that made the arbiter yield, whose turn marks get
    the barge-in's (sent with its turn's when the bot answers it).
    """
    if h.speaker is None:
        return
    p = h.speaker.interrupt() or p
    h.port.clear_outbound()
    h.arbiter.bot_finished()
    if p is None:
        return
    played_ms = p.played * 1000 // h.sample_rate
    heard = p.heard_text(p.played)
    if barge is not None and barge.utterance_id:
        h.log.barge(barge.utterance_id, barge).barge_in_last_frame_ms = p.last_frame_ms
    # A templated line (with a slot value) reports no heard text: it may be sensitive.
    shown = heard if p.utt.text == p.utt.record_text else ""
    h.port.send(pb.ServerMessage(barge_in=pb.BargeIn(
        utterance_id=p.utt.id, heard_text=shown, played_ms=played_ms,
        planned_text=p.utt.record_text)))  # fmt: skip
    h.apply(h.manager.handle(ev.BargeIn(p.utt.id, heard)))
