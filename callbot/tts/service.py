"""The process-wide TTS service: voices by language, loaded and warmed once, the prompt cache."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callbot.media.resample import resample
from callbot.tts.base import Synthesizer, silence, trimmed
from callbot.tts.cache import PromptCache
from callbot.tts.errors import TtsError, VoiceNotFound
from callbot.tts.espeak_voice import EspeakSynthesizer
from callbot.tts.piper_voice import PiperSynthesizer
from callbot.tts.stream import SpeechChunk, SynthesizeStream, job_runner
from callbot.tts.text import JOIN_TAIL_MS, pause_after_ms, speech_pieces
from callbot.workers import LaneExecutor

log = logging.getLogger(__name__)

# "espeak-ng:ko" is a NON-NEURAL fallback: no Korean neural voice ships on PyPI.
DEFAULT_VOICES: Mapping[str, str] = {"en": "piper:joe", "ko": "espeak-ng:ko"}


@dataclass(frozen=True)
class TtsConfig:
    """Voice per language: `piper:joe` (bundled), `piper:/path/voice.onnx`, `espeak-ng:<voice>`."""

    voices: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_VOICES))
    threads: int = 1  # onnxruntime threads per Piper voice
    max_first_chars: int = 60  # a longer first sentence is cut at a clause
    call_rates: tuple[int, ...] = (8000, 16000)  # rates the prompt cache is built for


def build_voice(spec: str, language: str, threads: int = 1) -> Synthesizer:
    """The explicit backend registry (no import side effects)."""
    kind, _, arg = spec.partition(":")
    if kind == "piper":
        path = None if arg in ("", "joe") else Path(arg).expanduser()
        return PiperSynthesizer(path, language=language, threads=threads)
    if kind == "espeak-ng":
        return EspeakSynthesizer(arg or language, language=language)
    raise VoiceNotFound(f"unknown TTS backend {kind!r} in {spec!r}")


class TtsService:
    """`load()` + `build_cache()` at start-up; `stream()` / `cached()` per utterance."""

    def __init__(self, config: TtsConfig | None = None, *, executor: LaneExecutor | None = None):
        self.config = config or TtsConfig()
        self.executor = executor
        self.cache = PromptCache()
        self._voices: dict[str, Synthesizer] = {}
        self.ready = False

    def load(self, languages: Iterable[str] | None = None, *, warm_up: bool = True) -> None:
        wanted = list(languages) if languages is not None else list(self.config.voices)
        for language in wanted:
            if language in self._voices:
                continue
            spec = self.config.voices.get(language)
            if spec is None:
                raise VoiceNotFound(f"no voice is configured for language {language!r}")
            voice = build_voice(spec, language, self.config.threads)
            voice.load()
            if warm_up:
                voice.warm_up()
            if not voice.info.neural:
                log.warning("non-neural TTS fallback in use", extra={"language": language})
            self._voices[language] = voice
        self.ready = True

    def add_voice(self, language: str, voice: Synthesizer) -> None:
        """A voice built elsewhere (already loaded): user backends, tests."""
        self._voices[language] = voice
        self.ready = True

    def voice(self, language: str) -> Synthesizer:
        try:
            return self._voices[language]
        except KeyError:
            raise VoiceNotFound(f"no voice is loaded for language {language!r}") from None

    def can_speak(self, language: str) -> bool:
        return language in self._voices

    def stream(self, language: str, sample_rate: int) -> SynthesizeStream:
        voice = self.voice(language)
        return SynthesizeStream(
            voice,
            sample_rate=sample_rate,
            run=job_runner(self.executor),
            max_first_chars=self.config.max_first_chars,
            cached=self.cache.pieces(voice.info.name, sample_rate),
        )

    def build_cache(
        self, prompts: Iterable[tuple[str, str]], fixed: Iterable[tuple[str, str, bool]] = ()
    ) -> int:
        """Synthesize fixed prompts and the fixed pieces of prompts with slots (`fixed_pieces`)
        now (blocking, start-up only); returns how many entries were added."""
        added = self._build_pieces(fixed)
        for language, text in prompts:
            if not self.can_speak(language):
                continue
            voice = self.voice(language)
            pieces = speech_pieces(text, first=True, max_first_chars=self.config.max_first_chars)
            native = [(p, voice.synthesize(p)) for p in pieces]
            for rate in self.config.call_rates:
                if (voice.info.name, rate, text) in self.cache:
                    continue
                chunks = []
                for i, (piece, pcm) in enumerate(native):
                    audio = resample(pcm, voice.info.sample_rate, rate)
                    pad = silence(rate, pause_after_ms(piece))
                    chunks.append(SpeechChunk(np.concatenate((audio, pad)), piece, i == 0,
                                              audio.size))  # fmt: skip
                self.cache.put(voice.info.name, rate, text, chunks)
                added += 1
        log.info("prompt cache built", extra={"entries": len(self.cache)})
        return added

    def _build_pieces(self, pieces: Iterable[tuple[str, str, bool]]) -> int:
        added = 0
        for language, text, head in pieces:
            if not self.can_speak(language):
                continue
            voice = self.voice(language)
            native = voice.synthesize(text)
            if head:  # it runs into the words that follow: keep a word gap, no pause
                native = trimmed(native, voice.info.sample_rate, tail_ms=JOIN_TAIL_MS)
            for rate in self.config.call_rates:
                if self.cache.piece(voice.info.name, rate, text) is not None:
                    continue
                audio = resample(native, voice.info.sample_rate, rate)
                pad = silence(rate, 0 if head else pause_after_ms(text))
                chunk = SpeechChunk(np.concatenate((audio, pad)), text, False, audio.size)
                self.cache.put_piece(voice.info.name, rate, chunk, head=head)
                added += 1
        return added

    def cached(self, language: str, text: str, rate: int) -> tuple[SpeechChunk, ...] | None:
        if not self.can_speak(language):
            return None
        return self.cache.get(self.voice(language).info.name, rate, text)


__all__ = ["DEFAULT_VOICES", "TtsConfig", "TtsError", "TtsService", "build_voice"]
