"""Cutting bot text into pieces that synthesize quickly and sound natural.

Piper's first audio grows with the length of the first sentence (~45 ms per
second of speech), so a long first sentence is cut at a clause boundary: the
caller hears its first words while the rest is still being synthesized.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:，、])\s+")
# Silence after a piece, by how it ends: a sentence breathes longer than a clause.
SENTENCE_PAUSE_MS = 250
CLAUSE_PAUSE_MS = 120
# A piece that stops mid-sentence (a cached head: "… ending in") runs into the next.
JOIN_LEAD_MS = 10  # silence kept before the words that continue it
JOIN_TAIL_MS = 40  # and after its own last word


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def split_first(sentence: str, max_chars: int) -> list[str]:
    """Cut a long sentence after its first clause that reaches ~1/4 of `max_chars`."""
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = [c for c in _CLAUSE_END.split(sentence) if c]
    if len(clauses) < 2:
        return [sentence]
    head = ""
    for i, clause in enumerate(clauses[:-1]):
        head = f"{head} {clause}".strip()
        if len(head) >= max_chars // 4:
            return [head, " ".join(clauses[i + 1 :])]
    return [sentence]


def speech_pieces(text: str, *, first: bool, max_first_chars: int = 60) -> list[str]:
    """Sentences, with the first cut at a clause when `first` and it is long."""
    out = sentences(text)
    if first and out:
        out[:1] = split_first(out[0], max_first_chars)
    return out


def pause_after_ms(piece: str) -> int:
    tail = piece.rstrip()[-1:] if piece.strip() else ""
    if tail and tail in ".!?。？！":
        return SENTENCE_PAUSE_MS
    return CLAUSE_PAUSE_MS


def take_complete(buffer: str) -> tuple[list[str], str]:
    """Whole sentences at the start of a growing buffer, and what is left over."""
    parts = _SENTENCE_END.split(buffer)
    if len(parts) < 2:
        return [], buffer
    return [p.strip() for p in parts[:-1] if p.strip()], parts[-1]
