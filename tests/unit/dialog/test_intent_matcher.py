"""The intent matcher embeds an utterance once, however often the turn asks about it."""

from __future__ import annotations

from collections.abc import Sequence

from callbot.dialog.model import IntentDef
from callbot.dialog.nlu.embedder import HashingEmbedder, Vectors
from callbot.dialog.nlu.intents import IntentMatcher, build_index


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return super().embed(texts)


def test_the_same_text_twice_is_embedded_once() -> None:
    intents = {
        "lost_card": IntentDef("lost_card", ("I lost my card", "my card is gone"), ()),
        "balance": IntentDef("balance", ("what is my balance", "how much money"), ()),
    }
    embedder = CountingEmbedder()
    matcher = IntentMatcher(intents, build_index(intents, embedder), embedder)
    embedder.texts.clear()
    first = matcher.match("I misplaced my card", ["lost_card", "balance"])
    again = matcher.match("I misplaced my card", ["lost_card", "balance"])
    other = matcher.match("how much is in my account", ["lost_card", "balance"])
    assert first == again
    assert other.score != first.score
    assert embedder.texts == ["I misplaced my card", "how much is in my account"]
