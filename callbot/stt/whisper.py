"""One faster-whisper model per process, decoded one utterance at a time.

Whisper pads every input to a 30 s encoder window, so a decode costs the same
whatever the utterance length. Here the log-mel features are cut to a shorter
window *before* the encoder (`window_s`, widened to fit a longer utterance):
faster-whisper's `chunk_length` alone does not cut the encoder's cost. Each
utterance is one encode and one generate (no temperature fallback, no seeking
past the window): a call needs a fast answer, not a second guess. The one
exception: a short window sometimes sends the decoder into a loop ("10 of clubs
10 of clubs …", "5 5 5 5 …"). A decode that hits its length bound, compresses
too well or repeats a short unit is generated again from the same encoder
output with a repetition penalty (tens of ms; a penalty on every decode would
turn a real "five five" into "five"), and only if that loops too, decoded again
on the full 30 s window, the input Whisper was trained on (a second encode,
about four times a 15 s one).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float32]
SAMPLE_RATE = 16000
_FRAMES_PER_S = 100  # log-mel hop of 10 ms
_MAX_FRAMES = 3000
_WINDOW_STEP_FRAMES = 500  # widen in 5 s steps: an utterance-length window loops
_LOOP_RATIO = 2.4  # gzip compression ratio of a looping decode (Whisper's own threshold)
_LOOP_REPEATS = 5  # a short unit this many times in a row is a loop too
# Mild enough that "three, three, zero" keeps its repeat; a loop's unit does not.
_LOOP_PENALTY = 1.1


def _repeats(tokens: list[int], times: int = _LOOP_REPEATS) -> bool:
    """A unit of one to four tokens `times` times in a row ("4,4,4,4,4,"): a decoder loop.

    Too short to compress well, so the compression ratio misses it.
    """
    for unit in range(1, 5):
        run = unit * times
        for i in range(len(tokens) - run + 1):
            head = tokens[i : i + unit]
            if all(tokens[i + k * unit : i + (k + 1) * unit] == head for k in range(1, times)):
                return True
    return False


def _looped(tokens: list[int], text: str, max_new: int) -> bool:
    """The decoder ran to its bound, compresses like a loop, or repeats a short unit."""
    from faster_whisper.transcribe import get_compression_ratio  # type: ignore[import-untyped]

    return len(tokens) >= max_new or get_compression_ratio(text) > _LOOP_RATIO or _repeats(tokens)


class SttError(RuntimeError):
    """A decode failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class DecodedWord:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Decoded:
    """One utterance's decode with the numbers the hallucination guards need."""

    text: str
    words: tuple[DecodedWord, ...]
    language: str
    language_probability: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    audio_s: float
    window_s: float
    # The short window looped: "penalty" (generated again with a repetition
    # penalty) or "window" (that looped too: decoded again on 30 s); "" if not.
    fallback: str = ""


class WhisperEngine:
    """A shared faster-whisper model: thread-safe `decode` for up to `num_workers` threads."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str = "",
        window_s: float = 15.0,
        compute_type: str = "int8",
        num_workers: int = 2,
        cpu_threads: int = 1,
        beam_size: int = 1,
    ) -> None:
        self.model_path = model_path
        self.name = name or model_path.name
        self.window_s = window_s
        self.beam_size = beam_size
        self._compute_type = compute_type
        self._num_workers = num_workers
        self._cpu_threads = cpu_threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def multilingual(self) -> bool:
        return bool(self._require().model.is_multilingual)

    def load(self) -> None:
        """Load the weights (seconds); never touches the network."""
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]

            try:
                self._model = WhisperModel(
                    str(self.model_path),
                    device="cpu",
                    compute_type=self._compute_type,
                    cpu_threads=self._cpu_threads,
                    num_workers=self._num_workers,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise SttError(f"cannot load whisper model at {self.model_path}: {exc}") from exc

    def warm_up(self) -> None:
        """One decode of silence, so the first caller does not pay for lazy init."""
        self.decode(np.zeros(SAMPLE_RATE, dtype=np.float32), language=None, words=True)

    def _require(self) -> Any:
        if self._model is None:
            raise SttError("whisper model used before load()")
        return self._model

    def window_frames(self, content_frames: int, window_s: float | None = None) -> int:
        frames = int((window_s or self.window_s) * _FRAMES_PER_S)
        need = content_frames + _FRAMES_PER_S  # a second of room after the speech
        if need > frames:
            frames = math.ceil(need / _WINDOW_STEP_FRAMES) * _WINDOW_STEP_FRAMES
        return min(max(frames, _WINDOW_STEP_FRAMES), _MAX_FRAMES)

    def decode(
        self,
        audio: Audio,
        *,
        language: str | None,
        candidates: tuple[str, ...] = (),
        prompt: str | None = None,
        hotwords: str | None = None,
        words: bool = True,
        beam_size: int | None = None,
        window_s: float | None = None,
        loop_fallback: bool = True,
    ) -> Decoded:
        """Decode 16 kHz float audio; `language=None` detects it among `candidates`.

        `beam_size` (default: the engine's) trades a few tens of ms of decoder
        time for accuracy: finals use a beam, partials are greedy. `window_s`
        (default: the engine's) sets the encoder window, the bulk of the cost;
        without `loop_fallback` a decode that loops even with the repetition
        penalty is returned as it is (the guards drop it) instead of being
        decoded again on 30 s.
        """
        from faster_whisper.audio import pad_or_trim  # type: ignore[import-untyped]
        from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]
        from faster_whisper.transcribe import get_compression_ratio

        model = self._require()
        audio = audio[-_MAX_FRAMES * SAMPLE_RATE // _FRAMES_PER_S :]
        features = model.feature_extractor(audio)
        content = min(features.shape[-1] - 1, _MAX_FRAMES)
        window = self.window_frames(content, window_s)
        encoder_output = model.encode(pad_or_trim(features[:, :content], window))
        lang, lang_p = self._language(model, encoder_output, language, candidates)
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=lang
        )
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        prompt_tokens = model.get_prompt(
            tokenizer, previous, without_timestamps=True, hotwords=hotwords or None
        )
        # Bound the output: a loop ("5 5 5 …") ends at this length.
        max_new = 16 + int(12 * audio.size / SAMPLE_RATE)
        beam = beam_size or self.beam_size
        tokens, text, avg_logprob, no_speech = self._generate(
            model, encoder_output, tokenizer, prompt_tokens, max_new, beam
        )
        fallback = ""
        if _looped(tokens, text, max_new):
            fallback = "penalty"
            tokens, text, avg_logprob, no_speech = self._generate(
                model, encoder_output, tokenizer, prompt_tokens, max_new, beam, _LOOP_PENALTY
            )
            if loop_fallback and window < _MAX_FRAMES and _looped(tokens, text, max_new):
                fallback, window = "window", _MAX_FRAMES
                encoder_output = model.encode(pad_or_trim(features[:, :content], window))
                tokens, text, avg_logprob, no_speech = self._generate(
                    model, encoder_output, tokenizer, prompt_tokens, max_new, beam
                )
        found: tuple[DecodedWord, ...] = ()
        if words and tokens:
            aligned = model.find_alignment(tokenizer, [tokens], encoder_output, content)
            found = tuple(
                DecodedWord(str(w["word"]).strip(), float(w["start"]), float(w["end"]),
                            float(w["probability"]))
                for w in (aligned[0] if aligned else [])
                if str(w["word"]).strip()
            )  # fmt: skip
        return Decoded(
            text=text,
            words=found,
            language=lang,
            language_probability=lang_p,
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech,
            compression_ratio=get_compression_ratio(text) if text else 0.0,
            audio_s=audio.size / SAMPLE_RATE,
            window_s=window / _FRAMES_PER_S,
            fallback=fallback,
        )

    @staticmethod
    def _generate(  # noqa: PLR0917
        model: Any,
        encoder_output: Any,
        tokenizer: Any,
        prompt_tokens: list[int],
        max_new: int,
        beam_size: int,
        repetition_penalty: float = 1.0,
    ) -> tuple[list[int], str, float, float]:
        """One decode: (text tokens, text, average log-prob, no-speech probability)."""
        from faster_whisper.transcribe import get_suppressed_tokens

        result = model.model.generate(
            encoder_output,
            [prompt_tokens],
            beam_size=beam_size,
            max_length=min(448, len(prompt_tokens) + max_new),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            repetition_penalty=repetition_penalty,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        seq_len = len(result.sequences_ids[0])
        avg_logprob = float(result.scores[0]) * seq_len / (seq_len + 1) if seq_len else -10.0
        text = tokenizer.decode(tokens).strip()
        return tokens, text, avg_logprob, float(result.no_speech_prob)

    @staticmethod
    def _language(
        model: Any, encoder_output: Any, language: str | None, candidates: tuple[str, ...]
    ) -> tuple[str, float]:
        if not model.model.is_multilingual:
            return "en", 1.0
        if language is not None:
            return language, 1.0
        ranked: list[tuple[str, float]] = model.model.detect_language(encoder_output)[0]
        probs = {token[2:-2]: float(p) for token, p in ranked}
        pool = {k: v for k, v in probs.items() if not candidates or k in candidates}
        if not pool:
            return (candidates[0] if candidates else "en"), 0.0
        total = sum(pool.values()) or 1.0
        best = max(pool, key=lambda k: pool[k])
        # Share among the configured languages: "ko or en?" is the question asked.
        return best, pool[best] / total
