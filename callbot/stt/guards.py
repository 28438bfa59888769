"""Hallucination guards: decodes of silence, noise, tones or music never become text.

Whisper invents text for audio without speech ("Thank you.", "you", subtitles
credits). The checks follow Whisper's own (no-speech probability with a low
log-prob, compression ratio) plus a list of the known phantom phrases, which are
accepted only when the decode is confident that speech was there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callbot.stt.whisper import Decoded

_PHANTOMS = {
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "you", "bye", "okay", "so", "please subscribe", "subtitles by the amaraorg community",
    "시청해주셔서 감사합니다", "감사합니다", "mbc 뉴스 이덕영입니다", "구독과 좋아요 부탁드립니다",
}  # fmt: skip
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class GuardSettings:
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    phantom_no_speech: float = 0.15  # a phantom phrase needs a decode this sure of speech
    phantom_logprob: float = -0.4
    min_word_probability: float = 0.15  # mean word probability, when words are known


def normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def collapse_repeats(text: str) -> str:
    """ "four queen four queen" → "four queen": a short window's decode loop, kept once.

    Only units of two or more words: "five five", "no no" are what callers say.
    """
    words = text.split()
    for n in range(2, len(words) // 2 + 1):
        if len(words) % n == 0 and words == words[:n] * (len(words) // n):
            return " ".join(words[:n])
    return text


def rejection(decoded: Decoded, settings: GuardSettings | None = None) -> str | None:
    """Why this decode must not reach the dialogue, or None if it may."""
    s = settings or GuardSettings()
    norm = normalise(decoded.text)
    if not norm:
        return "empty"
    if decoded.no_speech_prob > s.no_speech_threshold and decoded.avg_logprob < s.logprob_threshold:
        return "no_speech"
    if decoded.avg_logprob < s.logprob_threshold:
        return "low_logprob"
    if decoded.compression_ratio > s.compression_ratio_threshold:
        return "repetitive"
    if decoded.words:
        mean_p = sum(w.probability for w in decoded.words) / len(decoded.words)
        if mean_p < s.min_word_probability:
            return "low_word_probability"
    if norm in _PHANTOMS and (
        decoded.no_speech_prob > s.phantom_no_speech or decoded.avg_logprob < s.phantom_logprob
    ):
        return "phantom_phrase"
    return None
