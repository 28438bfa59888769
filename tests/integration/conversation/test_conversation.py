"""The whole loop on real models: a scripted caller completes the lost-card flow."""

from __future__ import annotations

import time

import numpy as np
import pytest

from callbot.clock import LoopClock
from callbot.conversation.handler import ConversationDeps, ConversationHandler
from callbot.v1 import callbot_pb2 as pb
from tests.integration.conversation.fakes import FakePort, espeak_caller, feed, silence_ms

pytestmark = pytest.mark.integration


def _finished(port: FakePort) -> int:
    return sum(m.bot_speech.state == pb.BOT_SPEECH_STATE_FINISHED for m in port.of("bot_speech"))


def _events(port: FakePort) -> str:
    """The bot's lines, transcripts and barge-ins, one a line, for failure messages."""
    kinds = ("bot_speech", "transcript", "barge_in")
    return "\n".join(
        f"{m.media_time_ms} {m.WhichOneof('message')} "
        f"{m.bot_speech.text or m.transcript.text or m.barge_in.heard_text!r}"
        for m in port.messages
        if m.WhichOneof("message") in kinds
    )


async def _until_bot_done(port: FakePort, h: ConversationHandler, max_s: float = 30) -> None:
    """Feed silence until the bot answered and said everything it queued (and a breath more)."""
    deadline = time.monotonic() + max_s
    before = _finished(port)
    await feed(port, h.on_audio, silence_ms(200))
    while port.ended is None and (
        _finished(port) == before or port.bot_speaking() or (h.speaker and h.speaker.busy)
    ):
        assert time.monotonic() < deadline, _events(port)
        await feed(port, h.on_audio, silence_ms(100))
    await feed(port, h.on_audio, silence_ms(300))


# What the caller answers to each prompt (the bot may re-ask: the script follows it).
# tiny.en on 8 kHz espeak-ng dates loops ("March, March, …") with the step's month
# hints unless the voice and phrasing suit it; this pair decodes reliably.
ANSWERS = [
    ("How can I help", "My card was stolen.", "en-us"),
    ("four digits", "four five six seven.", "en-us"),
    ("date of birth", "March fifth nineteen ninety", "en-us+m3"),
    ("Is that right", "yes.", "en-us"),
    ("anything else", "no.", "en-us"),
]


def _last_line(port: FakePort) -> str:
    done = [m.bot_speech.text for m in port.of("bot_speech")
            if m.bot_speech.state == pb.BOT_SPEECH_STATE_FINISHED]  # fmt: skip
    return done[-1] if done else ""


async def test_a_scripted_caller_completes_the_english_lost_card_flow(
    deps: ConversationDeps,
) -> None:
    port = FakePort()
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        for _ in range(8):
            await _until_bot_done(port, h)
            if port.ended is not None:
                break
            line = _last_line(port)
            answer = next(((a, v) for key, a, v in ANSWERS if key in line), None)
            assert answer is not None, _events(port)
            await feed(port, h.on_audio, espeak_caller(*answer))
        await _until_bot_done(port, h, max_s=60)
    finally:
        await h.aclose()
    bot = [m.bot_speech.text for m in port.of("bot_speech")
           if m.bot_speech.state == pb.BOT_SPEECH_STATE_FINISHED]  # fmt: skip
    finals = [m.transcript.text for m in port.of("transcript") if m.transcript.is_final]
    assert port.ended is not None and port.ended[0] == pb.END_REASON_BOT_HANGUP, (bot, finals)
    assert any("reference number" in b for b in bot), bot
    assert bot[-1].startswith("Thank you for calling. Goodbye"), bot
    assert [a.kind for a in port.record.actions] == ["hangup"]
    metrics = [m.turn_metrics for m in port.of("turn_metrics")]
    answered = [m for m in metrics if m.first_outbound_frame_ms]
    # Every answer is timed to its reply's first frame, the "yes" too, whose reply
    # ("Your card is blocked. …") comes after the block_card hook.
    assert len(answered) == len([t for t in port.record.turns if t.speaker == "caller"])
    for m in answered:
        assert m.speech_end_ms <= m.endpoint_ms <= m.final_transcript_ms <= m.dialog_decision_ms
        assert m.dialog_decision_ms <= m.first_tts_audio_ms <= m.first_outbound_frame_ms
    callers = [t for t in port.record.turns if t.speaker == "caller"]
    assert "4567" not in " ".join(t.text for t in callers)  # the card digits are masked
    assert port.recording_paused is False
    assert port.of("barge_in") == []


async def test_barge_in_at_a_known_point_stops_the_outbound_audio(deps: ConversationDeps) -> None:
    port = FakePort()
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        await _until_bot_done(port, h)  # greeting + "How can I help you today? For a lost…"
        # Ask for a repeat-free path: answer, then barge in 1.5 s into the next long prompt.
        await feed(port, h.on_audio, espeak_caller("My card was stolen."))
        while not any(f.utterance_id for _, f in port.frames[-1:]) or not port.bot_speaking():
            await feed(port, h.on_audio, silence_ms(20))
        started = port.media_time_ms
        await feed(port, h.on_audio, silence_ms(1500))
        talk = espeak_caller("Hold on, I want to talk to a person about my account please.")
        onset = port.media_time_ms + int(np.flatnonzero(np.abs(talk) > 500)[0] / 8)
        await feed(port, h.on_audio, talk)
        await feed(port, h.on_audio, silence_ms(1500))
    finally:
        await h.aclose()
    barge = port.of("barge_in")
    assert len(barge) == 1, [m.WhichOneof("message") for m in port.messages]
    b = barge[0].barge_in
    assert 1300 <= b.played_ms <= 2600, b
    assert b.heard_text and b.planned_text.startswith(b.heard_text.split()[0])
    interrupted = b.utterance_id
    last = max(ms for ms, f in port.frames if f.utterance_id == interrupted)
    assert started < last <= onset + 900  # stopped within the backchannel window (+ VAD)
    assert barge[0].media_time_ms - onset <= 1000
    # The barging utterance's turn metrics carry the barge-in's marks (media time).
    marked = [m.turn_metrics for m in port.of("turn_metrics") if m.turn_metrics.barge_in_pause_ms]
    assert len(marked) == 1, port.of("turn_metrics")
    tm = marked[0]
    assert onset - 100 <= tm.barge_in_onset_ms <= tm.barge_in_pause_ms <= onset + 400, tm
    # Paused at the VAD's first voiced frames, before they add up to speech (~100 ms).
    assert tm.barge_in_pause_ms - tm.barge_in_onset_ms <= 70, tm
    assert tm.barge_in_pause_ms < tm.barge_in_decision_ms <= barge[0].media_time_ms, tm
    assert abs(tm.barge_in_last_frame_ms - last) <= 40, (tm, last)
    assert tm.speech_end_ms > tm.barge_in_decision_ms  # the same utterance, answered later


async def test_an_uh_huh_over_the_bot_pauses_it_then_it_resumes(deps: ConversationDeps) -> None:
    port = FakePort()
    h = ConversationHandler(port, deps, sample_rate=8000, clock=LoopClock())
    h.start()
    try:
        await feed(port, h.on_audio, silence_ms(3500))  # into "How can I help you today? …"
        assert port.bot_speaking()
        await feed(port, h.on_audio, espeak_caller("uh-huh"))
        await _until_bot_done(port, h)
    finally:
        await h.aclose()
    states = [(m.bot_speech.utterance_id, m.bot_speech.state) for m in port.of("bot_speech")]
    paused = [uid for uid, st in states if st == pb.BOT_SPEECH_STATE_PAUSED]
    assert paused, _events(port)  # the caller's onset paused the bot …
    assert (paused[0], pb.BOT_SPEECH_STATE_RESUMED) in states, _events(port)  # … and it went on
    assert (paused[0], pb.BOT_SPEECH_STATE_FINISHED) in states, _events(port)
    assert port.of("barge_in") == [], _events(port)
