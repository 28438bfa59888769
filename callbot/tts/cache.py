"""Prompts that never change (greetings, reprompts without slots), synthesized at start-up."""

from __future__ import annotations

from collections.abc import Iterable

from callbot.dialog.model import Flow, Prompt
from callbot.tts.stream import SpeechChunk

_PROMPT_FIELDS = ("prompt", "reprompt", "no_input", "no_match")


def static_prompts(flow: Flow) -> list[tuple[str, str]]:
    """(language, text) of every prompt in the flow that has no slot in it."""
    out: list[tuple[str, str]] = []
    for step in flow.steps.values():
        for field in _PROMPT_FIELDS:
            prompt = getattr(step, field, None)
            if not isinstance(prompt, Prompt):
                continue
            for key, template in prompt.texts.items():
                if template.slots:
                    continue
                languages = (flow.languages or (flow.language,)) if key == "*" else (key,)
                text = template.render({}, key if key != "*" else flow.language)
                out.extend((lang, text) for lang in languages if text)
    return list(dict.fromkeys(out))


class PromptCache:
    """Audio by (voice, call rate, text); read-only once the service is serving."""

    def __init__(self) -> None:
        self._audio: dict[tuple[str, int, str], tuple[SpeechChunk, ...]] = {}

    def __len__(self) -> int:
        return len(self._audio)

    def put(self, voice: str, rate: int, text: str, chunks: Iterable[SpeechChunk]) -> None:
        self._audio[(voice, rate, text)] = tuple(chunks)

    def get(self, voice: str, rate: int, text: str) -> tuple[SpeechChunk, ...] | None:
        return self._audio.get((voice, rate, text))

    def __contains__(self, key: object) -> bool:
        return key in self._audio
