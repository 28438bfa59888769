"""Masked transcripts during sensitive asks; utterances that never got a final."""

from __future__ import annotations

from callbot.conversation.hearing import STALE_MS, AwaitingFinals, transcript_message
from callbot.dialog import events as ev
from callbot.dialog.templates import REDACTED
from callbot.stt.events import ListenEvent, ListenEventKind, WordTiming

WORDS = (WordTiming("four", 0, 300, 0.9), WordTiming("five", 300, 600, 0.9))


def _final(text: str = "four five six seven") -> ListenEvent:
    return ListenEvent(ListenEventKind.FINAL, 900, "u2", text, stability=1.0, words=WORDS)


def test_transcripts_go_out_as_heard_outside_sensitive_asks() -> None:
    msg = transcript_message(_final(), sensitive=False)
    assert msg.transcript.text == "four five six seven" and len(msg.transcript.words) == 2


def test_a_sensitive_final_carries_the_dialogues_masked_reading_and_no_words() -> None:
    turn = ev.CallerTurn(REDACTED, "speech", "ask_card", "filled")
    msg = transcript_message(_final(), sensitive=True, outputs=[turn])
    assert msg.transcript.text == REDACTED and not msg.transcript.words
    assert msg.transcript.is_final and msg.transcript.utterance_id == "u2"


def test_a_sensitive_partial_is_redacted() -> None:
    partial = ListenEvent(ListenEventKind.PARTIAL, 500, "u2", "four five")
    assert transcript_message(partial, sensitive=True).transcript.text == REDACTED


def test_speech_events_are_never_masked() -> None:
    begin = ListenEvent(ListenEventKind.SPEECH_BEGIN, 100, "u2")
    assert transcript_message(begin, sensitive=True).WhichOneof("message") == "speech"


def test_a_rejected_final_names_the_oldest_waiting_utterance() -> None:
    a = AwaitingFinals()
    a.ended("u1", 1000)
    a.ended("u2", 3000)
    assert a.dropped(0, 3100) == []
    assert a.dropped(1, 3200) == ["u1"]
    assert a.dropped(1, 3300) == []  # the same count again: nothing new
    assert len(a) == 1


def test_a_final_clears_itself_and_reports_earlier_ones() -> None:
    a = AwaitingFinals()
    a.ended("u1", 1000)
    a.ended("u2", 2000)
    assert a.final("u2") == ["u1"] and len(a) == 0


def test_a_final_that_never_comes_goes_stale() -> None:
    a = AwaitingFinals()
    a.ended("u1", 1000)
    assert a.dropped(0, 1000 + STALE_MS - 1) == []
    assert a.dropped(0, 1000 + STALE_MS) == ["u1"]
