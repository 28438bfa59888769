"""Word error counts for tests and benchmarks (Levenshtein over normalised words)."""

from __future__ import annotations

import re

_NUMBERS = {"7": "seven", "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
            "5": "five", "6": "six", "8": "eight", "9": "nine", "10": "ten", "mr": "mister",
            "mrs": "missus"}  # fmt: skip
_PUNCT = re.compile(r"[^\w\s']+", re.UNICODE)


def words(text: str) -> list[str]:
    out = _PUNCT.sub(" ", text.lower()).split()
    return [_NUMBERS.get(w, w) for w in out]


def errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference word count)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            prev, row[j] = row[j], cur
    return row[len(hyp)], len(ref)
