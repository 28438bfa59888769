"""Fixed pieces of prompts with slots: which are cached, and how a reply uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from callbot.dialog.loader import load_flow
from callbot.tts.base import trimmed
from callbot.tts.cache import fixed_pieces
from tests.unit.conversation.test_speaker import Rig

FLOWS = Path(__file__).parents[3] / "examples" / "flows"


def test_fixed_pieces_are_the_sentences_without_slots_and_the_heads_before_them() -> None:
    pieces = fixed_pieces(load_flow(FLOWS / "card_replacement_en.yaml"))
    assert ("en", "Thanks.", False) in pieces
    assert ("en", "A new card will replace the one ending in", True) in pieces
    assert ("en", "Standard or express delivery?", False) in pieces
    # Every head stops before a slot at a word boundary; no piece holds a slot.
    assert all("{" not in text and "\x00" not in text for _, text, _ in pieces)
    assert fixed_pieces(load_flow(FLOWS / "lost_card_en.yaml"))[:2] == [
        ("en", "I will block the card ending in", True),
        ("en", "Is that right?", False),
    ]


def test_trimmed_keeps_a_word_gap_of_silence_at_the_cut_ends() -> None:
    pcm = np.concatenate((np.zeros(800), np.full(400, 2000), np.zeros(1600))).astype(np.int16)
    out = trimmed(pcm, 8000, lead_ms=10, tail_ms=40)
    assert out.size == 80 + 400 + 320
    assert trimmed(pcm, 8000, tail_ms=40).size == 800 + 400 + 320  # lead untouched
    assert trimmed(np.zeros(100, dtype=np.int16), 8000, lead_ms=0).size == 100


async def test_a_reply_with_a_slot_starts_with_its_cached_head_and_synthesizes_the_rest() -> None:
    rig = Rig()
    rig.tts.build_cache(
        [], [("en", "I will block the card ending in", True), ("en", "Is that right?", False)]
    )
    assert rig.voice.calls == ["I will block the card ending in", "Is that right?"]
    rig.voice.calls.clear()
    text = "I will block the card ending in four five six seven. Is that right?"
    p = await rig.say_all(text)
    assert rig.voice.calls == ["four five six seven."]  # only the words the slot brought
    assert [t for t, _, _ in p.pieces] == [
        "I will block the card ending in",
        "four five six seven.",
        "Is that right?",
    ]
    # The head runs straight into the digits: no pause between them.
    (_, _, head_end), (_, digits_start, _) = p.pieces[0], p.pieces[1]
    assert head_end == digits_start
    assert p.heard_text(p.played) == text
    assert p.played == p.pushed > 0


async def test_a_sentence_cached_whole_is_not_cut_at_a_head() -> None:
    rig = Rig()
    rig.tts.build_cache(
        [],
        [
            ("en", "Your reference number is", True),
            ("en", "Your reference number is ready.", False),
        ],
    )
    rig.voice.calls.clear()
    p = await rig.say_all("Your reference number is ready. Your reference number is 42.")
    assert rig.voice.calls == ["42."]
    assert [t for t, _, _ in p.pieces] == [
        "Your reference number is ready.",
        "Your reference number is",
        "42.",
    ]
