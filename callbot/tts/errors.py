"""Typed TTS errors: `retryable` says whether trying the same text again may work."""

from __future__ import annotations


class TtsError(RuntimeError):
    retryable = False


class VoiceNotFound(TtsError):
    """The configured voice's files or program are not installed."""


class SynthesisFailed(TtsError):
    """One synthesis failed (a crashed subprocess, a runtime error in the model)."""

    retryable = True
