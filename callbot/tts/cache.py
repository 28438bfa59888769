"""What never changes in a flow's speech, synthesized at start-up.

Whole prompts without slots (greetings, reprompts) are cached as they are. A
prompt with slots still has fixed parts: its sentences without a slot, and
each slot sentence's *head*, the words before its first slot ("I will block
the card ending in"). Those are cached as pieces, so a reply such as "I will
block the card ending in four five six seven. Is that right?" starts playing
at once while only the digits are synthesized.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from callbot.dialog.model import Flow, Prompt
from callbot.dialog.templates import Template
from callbot.tts.stream import SpeechChunk
from callbot.tts.text import sentences

_PROMPT_FIELDS = ("prompt", "reprompt", "no_input", "no_match")
_SLOT = "\x00"
MIN_HEAD_CHARS = 12  # a shorter head saves too little synthesis to be worth a join


def _templates(flow: Flow) -> Iterator[tuple[tuple[str, ...], str, Template]]:
    """(languages, render language, template) of every prompt text in the flow."""
    for step in flow.steps.values():
        for field in _PROMPT_FIELDS:
            prompt = getattr(step, field, None)
            if not isinstance(prompt, Prompt):
                continue
            for key, template in prompt.texts.items():
                languages = (flow.languages or (flow.language,)) if key == "*" else (key,)
                yield languages, key if key != "*" else flow.language, template


def static_prompts(flow: Flow) -> list[tuple[str, str]]:
    """(language, text) of every prompt in the flow that has no slot in it."""
    out: list[tuple[str, str]] = []
    for languages, language, template in _templates(flow):
        if not template.slots:
            text = template.render({}, language)
            out.extend((lang, text) for lang in languages if text)
    return list(dict.fromkeys(out))


def fixed_pieces(flow: Flow) -> list[tuple[str, str, bool]]:
    """(language, text, is_head) of the fixed parts of every prompt with slots."""
    out: list[tuple[str, str, bool]] = []
    for languages, _, template in _templates(flow):
        if not template.slots:
            continue
        marked = " ".join(
            "".join(p if isinstance(p, str) else _SLOT for p in template.parts).split()
        )
        for sentence in sentences(marked):
            at = sentence.find(_SLOT)
            if at < 0:
                out.extend((lang, sentence, False) for lang in languages)
            elif sentence[:at].endswith(" ") and len(sentence[:at].strip()) >= MIN_HEAD_CHARS:
                out.extend((lang, sentence[:at].strip(), True) for lang in languages)
    return list(dict.fromkeys(out))


class PromptCache:
    """Audio by (voice, call rate, text); read-only once the service is serving."""

    def __init__(self) -> None:
        self._audio: dict[tuple[str, int, str], tuple[SpeechChunk, ...]] = {}
        self._pieces: dict[tuple[str, int, str], SpeechChunk] = {}
        self._heads: dict[tuple[str, int], list[str]] = {}  # longest first

    def __len__(self) -> int:
        return len(self._audio)

    def put(self, voice: str, rate: int, text: str, chunks: Iterable[SpeechChunk]) -> None:
        self._audio[(voice, rate, text)] = tuple(chunks)

    def get(self, voice: str, rate: int, text: str) -> tuple[SpeechChunk, ...] | None:
        return self._audio.get((voice, rate, text))

    def __contains__(self, key: object) -> bool:
        return key in self._audio

    def put_piece(self, voice: str, rate: int, chunk: SpeechChunk, *, head: bool) -> None:
        text = chunk.text
        self._pieces[(voice, rate, text)] = chunk
        if head:
            heads = self._heads.setdefault((voice, rate), [])
            if text not in heads:
                heads.append(text)
                heads.sort(key=len, reverse=True)

    def piece(self, voice: str, rate: int, text: str) -> SpeechChunk | None:
        return self._pieces.get((voice, rate, text))

    def head_of(self, voice: str, rate: int, sentence: str) -> str | None:
        """The longest cached head that `sentence` starts with, followed by more words."""
        for head in self._heads.get((voice, rate), ()):
            if sentence.startswith(head) and sentence[len(head) : len(head) + 1] == " ":
                return head
        return None

    def pieces(self, voice: str, rate: int) -> CachedPieces:
        return CachedPieces(self, voice, rate)


class CachedPieces:
    """One voice and call rate's view of the cached pieces (a `PieceSource`)."""

    def __init__(self, cache: PromptCache, voice: str, rate: int) -> None:
        self._cache, self._voice, self._rate = cache, voice, rate

    def head_of(self, sentence: str) -> str | None:
        return self._cache.head_of(self._voice, self._rate, sentence)

    def piece(self, text: str) -> SpeechChunk | None:
        return self._cache.piece(self._voice, self._rate, text)
