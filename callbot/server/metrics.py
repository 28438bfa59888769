"""Prometheus metrics of one service instance (own registry: tests stay isolated)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


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

    def add_rtp(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            if name == "jitter_us":
                self.rtp_jitter.observe(value / 1e6)
            elif value:
                self.rtp.labels(name).inc(value)


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
