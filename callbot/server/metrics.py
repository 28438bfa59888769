"""Prometheus metrics of one service instance (own registry: tests stay isolated)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callbot.v1 import callbot_pb2 as pb
from callbot.workers import LaneExecutor

# Stages of a turn, as (name, from mark, to mark) over the TurnMetrics fields.
_STAGES = (
    ("voice_to_voice", "speech_end_ms", "first_outbound_frame_ms"),
    ("endpoint", "speech_end_ms", "endpoint_ms"),
    ("transcript", "endpoint_ms", "final_transcript_ms"),
    ("dialog", "final_transcript_ms", "dialog_decision_ms"),
    ("tts_first_audio", "dialog_decision_ms", "first_tts_audio_ms"),
    ("playout", "first_tts_audio_ms", "first_outbound_frame_ms"),
    ("barge_in_pause", "barge_in_onset_ms", "barge_in_pause_ms"),
    ("barge_in_decision", "barge_in_onset_ms", "barge_in_decision_ms"),
)
_LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class Metrics:
    """The service's counters and gauges; later stages add theirs here."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_active = Gauge("callbot_calls_active", "Calls in progress", registry=r)
        self.calls_total = Counter(
            "callbot_calls", "Calls ended, by end reason", ["reason"], registry=r
        )
        self.calls_rejected = Counter(
            "callbot_calls_rejected", "Calls refused at start, by cause", ["cause"], registry=r
        )
        self.frames_in = Counter(
            "callbot_frames_in", "Inbound audio frames, by media mode", ["mode"], registry=r
        )
        self.frames_out = Counter(
            "callbot_frames_out", "Outbound audio frames, by media mode", ["mode"], registry=r
        )
        self.contract_errors = Counter(
            "callbot_contract_errors", "Errors sent to clients, by code", ["code"], registry=r
        )
        self.draining = Gauge("callbot_draining", "1 while the instance drains", registry=r)
        self.rtp = Counter(
            "callbot_rtp_events",
            "RTP counters of ended calls (packets, loss, late, duplicates, drops, ...)",
            ["event"],
            registry=r,
        )
        self.rtp_jitter = Histogram(
            "callbot_rtp_jitter_seconds",
            "RFC 3550 interarrival jitter of each ended RTP call",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
            registry=r,
        )

        self.turn_latency = Histogram(
            "callbot_turn_latency_seconds",
            "Time of each stage of a turn on the media clock (voice_to_voice is the total)",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.barge_ins = Counter(
            "callbot_barge_ins",
            "Caller speech over the bot, by outcome (yielded: the bot stopped; resumed: "
            "a backchannel or noise, the bot went on)",
            ["outcome"],
            registry=r,
        )

    def observe_event(self, msg: pb.ServerMessage) -> None:
        """Counts what a call tells its client: turn latencies and barge-in outcomes."""
        kind = msg.WhichOneof("message")
        if kind == "turn_metrics":
            t = msg.turn_metrics
            for stage, start, end in _STAGES:
                a, b = getattr(t, start), getattr(t, end)
                if a and b and b >= a:
                    self.turn_latency.labels(stage).observe((b - a) / 1000.0)
        elif kind == "barge_in":
            self.barge_ins.labels("yielded").inc()
        elif kind == "bot_speech" and msg.bot_speech.state == pb.BOT_SPEECH_STATE_RESUMED:
            self.barge_ins.labels("resumed").inc()

    def watch_executor(self, executor: LaneExecutor) -> None:
        """Queue depth, shedding and admission of the shared STT/TTS worker pool."""
        self.registry.register(_ExecutorCollector(executor))

    def add_rtp(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            if name == "jitter_us":
                self.rtp_jitter.observe(value / 1e6)
            elif value:
                self.rtp.labels(name).inc(value)


class _ExecutorCollector(Collector):
    """Reads the executor's own counters at scrape time (no work on the hot path)."""

    def __init__(self, executor: LaneExecutor) -> None:
        self._executor = executor

    def collect(self) -> Iterator[Metric]:
        ex = self._executor
        depth = GaugeMetricFamily(
            "callbot_work_queue_depth",
            "STT/TTS jobs queued and not started, by lane (front: TTS first audio and "
            "intents; final: final transcripts and TTS; partial: partial transcripts)",
            labels=["lane"],
        )
        done = CounterMetricFamily(
            "callbot_work_jobs", "STT/TTS jobs finished, by lane", labels=["lane"]
        )
        shed = CounterMetricFamily(
            "callbot_work_shed", "Partial transcripts skipped under load", labels=["lane"]
        )
        for lane, n in ex.backlog_by_lane().items():
            name = lane.name.lower()
            stats = ex.stats[lane]
            depth.add_metric([name], n)
            done.add_metric([name], stats.completed)
            shed.add_metric([name], stats.shed)
        calls = GaugeMetricFamily(
            "callbot_work_calls", "Calls holding a speech-recognition slot", value=ex.calls
        )
        yield from (depth, done, shed, calls)


class MetricsHttp:
    """Serves /metrics on its own thread (prometheus_client's WSGI server)."""

    def __init__(self, metrics: Metrics, address: str) -> None:
        self._metrics = metrics
        self._address = address
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port if self._server else 0

    def start(self) -> None:
        host, _, port = self._address.rpartition(":")
        self._server, self._thread = start_http_server(
            int(port), addr=host.strip("[]") or "127.0.0.1", registry=self._metrics.registry
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
