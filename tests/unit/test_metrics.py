"""What /metrics derives from a call's events and from the shared worker pool."""

from __future__ import annotations

from callbot.server.metrics import Metrics
from callbot.v1 import callbot_pb2 as pb
from callbot.workers import Lane, LaneExecutor


def _value(m: Metrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


def test_turn_metrics_feed_one_histogram_per_stage() -> None:
    m = Metrics()
    t = pb.TurnMetrics(turn_id="t1", speech_end_ms=1000, endpoint_ms=1400,
                       final_transcript_ms=1450, dialog_decision_ms=1460,
                       first_tts_audio_ms=1600, first_outbound_frame_ms=1620)  # fmt: skip
    m.observe_event(pb.ServerMessage(turn_metrics=t))
    assert _value(m, "callbot_turn_latency_seconds_sum", stage="voice_to_voice") == 0.62
    assert _value(m, "callbot_turn_latency_seconds_sum", stage="endpoint") == 0.4
    # Stages not reached (a barge-in that never happened) are not observed.
    assert m.registry.get_sample_value(
        "callbot_turn_latency_seconds_count", {"stage": "barge_in_pause"}
    ) in (None, 0.0)


def test_barge_ins_are_counted_by_outcome() -> None:
    m = Metrics()
    m.observe_event(pb.ServerMessage(barge_in=pb.BargeIn(utterance_id="u1")))
    resumed = pb.BotSpeech(utterance_id="u2", state=pb.BOT_SPEECH_STATE_RESUMED)
    m.observe_event(pb.ServerMessage(bot_speech=resumed))
    m.observe_event(pb.ServerMessage(bot_speech=resumed))
    assert _value(m, "callbot_barge_ins_total", outcome="yielded") == 1
    assert _value(m, "callbot_barge_ins_total", outcome="resumed") == 2


def test_the_worker_pool_queue_is_read_at_scrape_time() -> None:
    m = Metrics()
    ex = LaneExecutor(workers=1)  # not started: jobs stay queued
    m.watch_executor(ex)
    ex.submit(Lane.FINAL, lambda: None)
    ex.submit(Lane.FINAL, lambda: None)
    ex.submit(Lane.FRONT, lambda: None)
    assert _value(m, "callbot_work_queue_depth", lane="final") == 2
    assert _value(m, "callbot_work_queue_depth", lane="front") == 1
    assert _value(m, "callbot_work_queue_depth", lane="partial") == 0
    ex.start()
    ex.shutdown()
    assert _value(m, "callbot_work_jobs_total", lane="final") == 2
