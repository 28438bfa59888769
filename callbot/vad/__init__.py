"""Voice activity detection: a state machine over per-frame voice probabilities."""

from callbot.vad.base import (
    VadParams,
    VadState,
    VadTransition,
    VoiceActivityDetector,
    VoiceProbability,
)

__all__ = ["VadParams", "VadState", "VadTransition", "VoiceActivityDetector", "VoiceProbability"]
