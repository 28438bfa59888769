"""VAD state machine (fake backend) and endpointing policy, no models."""

from __future__ import annotations

import numpy as np

from callbot.turn.endpointing import Endpointer, EndpointEvent, EndpointKind, EndpointSettings
from callbot.vad.base import Float, VadParams, VadState, VoiceActivityDetector

RATE = 16000


class ScriptedBackend:
    """Voice probability from the frame's amplitude: loud frames are voice."""

    sample_rate = 16000
    frame_samples = 512

    def probability(self, frame: Float) -> float:
        return 0.9 if float(np.abs(frame).max()) > 0.1 else 0.05

    def reset(self) -> None:
        pass


def _audio(pattern: list[tuple[bool, int]], rate: int = RATE) -> np.ndarray:
    parts = [
        np.full(rate * ms // 1000, 8000 if loud else 0, dtype=np.int16) for loud, ms in pattern
    ]
    return np.concatenate(parts)


def _run(
    pattern: list[tuple[bool, int]], settings: EndpointSettings, rate: int = RATE
) -> tuple[list[VadState], list[EndpointEvent]]:
    vad = VoiceActivityDetector(ScriptedBackend(), rate, VadParams())
    ep = Endpointer(rate, settings)
    ep.start_turn(settings, 0)
    audio = _audio(pattern, rate)
    states: list[VadState] = []
    events: list[EndpointEvent] = []
    frame = rate // 50
    for i in range(0, audio.size, frame):
        for t in vad.process(audio[i : i + frame]):
            states.append(t.state)
            events += ep.on_vad(t, vad.last_voice_sample)
        events += ep.advance(i + frame, vad.last_voice_sample)
    return states, events


def test_states_follow_quiet_starting_speaking_stopping() -> None:
    states, _ = _run([(False, 300), (True, 600), (False, 1500)], EndpointSettings())
    assert states == [VadState.STARTING, VadState.SPEAKING, VadState.STOPPING, VadState.QUIET]


def test_a_released_pause_needs_a_fresh_onset() -> None:
    """After an early end the pause is the end of speech: one voiced frame (an echo
    leak, a breath) no longer resumes it; a real onset still starts speech."""
    for release in (False, True):
        vad = VoiceActivityDetector(ScriptedBackend(), RATE, VadParams())
        vad.process(_audio([(True, 600), (False, 300)]))
        assert vad.state is VadState.STOPPING
        if release:
            vad.release()
            assert [vad.state] == [VadState.QUIET]  # (a list: mypy narrowed `state` above)
        blip = [t.state for t in vad.process(_audio([(True, 32), (False, 64)]))]
        assert (VadState.SPEAKING in blip) is not release
        if release:
            onset = [t.state for t in vad.process(_audio([(True, 300)]))]
            assert VadState.SPEAKING in onset


def test_end_of_utterance_after_the_turns_silence() -> None:
    for silence in (500, 1200):
        _, events = _run([(False, 200), (True, 1000), (False, 2000)], EndpointSettings(silence))
        kinds = [e.kind for e in events]
        assert kinds == [EndpointKind.SPEECH_BEGIN, EndpointKind.END_OF_UTTERANCE]
        end = events[1]
        fired_after_voice = (end.sample - end.end) * 1000 / RATE
        assert silence <= fired_after_voice < silence + 60


def test_pause_shorter_than_silence_keeps_one_utterance() -> None:
    pattern = [(True, 800), (False, 600), (True, 800), (False, 1500)]
    _, events = _run(pattern, EndpointSettings(silence_ms=900))
    assert [e.kind for e in events] == [EndpointKind.SPEECH_BEGIN, EndpointKind.END_OF_UTTERANCE]


def test_max_utterance_length_cuts() -> None:
    _, events = _run([(True, 3000), (False, 1000)], EndpointSettings(max_utterance_ms=1000))
    assert events[1].kind is EndpointKind.MAX_LENGTH
    assert abs((events[1].sample - events[0].start) / RATE - 1.0) < 0.05


def test_no_input_fires_once_and_only_without_speech() -> None:
    _, events = _run([(False, 4000)], EndpointSettings(no_input_ms=2000))
    assert [e.kind for e in events] == [EndpointKind.NO_INPUT]
    assert abs(events[0].sample / RATE - 2.0) < 0.03
    _, events = _run([(False, 500), (True, 500), (False, 3000)], EndpointSettings(no_input_ms=2000))
    assert EndpointKind.NO_INPUT not in [e.kind for e in events]


def test_vad_at_8khz_reports_input_rate_positions() -> None:
    _, events = _run([(False, 500), (True, 600), (False, 1200)], EndpointSettings(), rate=8000)
    assert abs(events[0].start / 8000 - 0.5) < 0.04


def test_short_click_is_discarded() -> None:
    _, events = _run(
        [(False, 200), (True, 100), (False, 1500)], EndpointSettings(min_speech_ms=150)
    )
    assert [e.kind for e in events] in ([], [EndpointKind.SPEECH_BEGIN, EndpointKind.DISCARDED])
