"""Cutting bot text into pieces: sentences, a long first sentence at a clause."""

from __future__ import annotations

from callbot.tts.text import (
    CLAUSE_PAUSE_MS,
    SENTENCE_PAUSE_MS,
    pause_after_ms,
    sentences,
    speech_pieces,
    split_first,
    take_complete,
)

LONG = (
    "For a lost or stolen card, say lost card or press 1, and for anything else stay on the line."
)


def test_sentences_split_at_sentence_ends_only() -> None:
    assert sentences("Hello there. How are you? Fine!  ") == [
        "Hello there.",
        "How are you?",
        "Fine!",
    ]
    assert sentences("It costs 3.5 percent.") == ["It costs 3.5 percent."]
    assert sentences("") == []


def test_a_short_first_sentence_is_one_piece() -> None:
    assert split_first("How can I help you today?", 60) == ["How can I help you today?"]


def test_a_long_first_sentence_is_cut_after_a_clause() -> None:
    head, rest = split_first(LONG, 60)
    assert head == "For a lost or stolen card,"
    assert f"{head} {rest}" == LONG


def test_a_long_sentence_without_clauses_stays_whole() -> None:
    text = "word " * 30
    assert split_first(text.strip(), 60) == [text.strip()]


def test_only_the_first_sentence_is_cut() -> None:
    pieces = speech_pieces(f"Hi. {LONG}", first=True)
    assert pieces == ["Hi.", LONG]
    assert speech_pieces(f"{LONG} Thanks.", first=True)[0] == "For a lost or stolen card,"
    assert speech_pieces(f"{LONG} Thanks.", first=False) == [LONG, "Thanks."]


def test_pauses_follow_the_punctuation() -> None:
    assert pause_after_ms("Done.") == SENTENCE_PAUSE_MS
    assert pause_after_ms("네?") == SENTENCE_PAUSE_MS
    assert pause_after_ms("For a lost card,") == CLAUSE_PAUSE_MS
    assert pause_after_ms("") == CLAUSE_PAUSE_MS


def test_take_complete_keeps_the_unfinished_tail() -> None:
    assert take_complete("One. Two") == (["One."], "Two")
    assert take_complete("One") == ([], "One")
    assert take_complete("One. Two! ") == (["One.", "Two!"], "")
