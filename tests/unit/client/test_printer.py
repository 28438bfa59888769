"""What `callbot call` prints for the bot's events."""

from __future__ import annotations

import pytest

from callbot.client.printer import Printer
from callbot.v1 import callbot_pb2 as pb


def test_a_turn_prints_its_voice_to_voice_and_its_barge_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    m = pb.TurnMetrics(turn_id="u2", speech_end_ms=9000, endpoint_ms=9300,
                       final_transcript_ms=9300, dialog_decision_ms=9310,
                       first_tts_audio_ms=9320, first_outbound_frame_ms=9340,
                       barge_in_onset_ms=7000, barge_in_pause_ms=7044,
                       barge_in_decision_ms=7700)  # fmt: skip
    Printer().show(pb.ServerMessage(media_time_ms=9340, turn_metrics=m), 0.0)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[   9.34s] latency: voice-to-voice 340 ms (after speech end: endpoint 300, final 300, "
        "decision 310, first audio 320)",
        "[   9.34s] latency: barge-in paused the bot 44 ms after the caller's onset, "
        "decided at 700 ms",
    ]


def test_a_backchannel_turn_prints_only_its_barge_in(capsys: pytest.CaptureFixture[str]) -> None:
    m = pb.TurnMetrics(turn_id="bc5000", barge_in_onset_ms=4000, barge_in_pause_ms=4040,
                       barge_in_decision_ms=4600)  # fmt: skip
    Printer().show(pb.ServerMessage(media_time_ms=4600, turn_metrics=m), 0.0)
    assert capsys.readouterr().out == (
        "[   4.60s] latency: barge-in paused the bot 40 ms after the caller's onset, "
        "decided at 600 ms\n"
    )
