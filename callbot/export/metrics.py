"""Prometheus metrics of the exporters, on the service's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ExportMetrics:
    """Spool size, delivery lag, deliveries, drops and broker connectivity."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.spool_records = Gauge(
            "callbot_export_spool_records", "Export events on disk, not yet confirmed", registry=r
        )
        self.spool_bytes = Gauge(
            "callbot_export_spool_bytes", "Bytes of the unconfirmed export events", registry=r
        )
        self.lag = Gauge(
            "callbot_export_delivery_lag_seconds",
            "Age of the oldest unconfirmed export event (0 when none)",
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "callbot_export_delivery_seconds",
            "From publish() to the broker's confirm",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600),
            registry=r,
        )
        self.delivered = Counter(
            "callbot_export_delivered", "Export events delivered, by sink", ["sink"], registry=r
        )
        self.dropped = Counter(
            "callbot_export_dropped", "Export events dropped, by cause", ["cause"], registry=r
        )
        self.broker_up = Gauge(
            "callbot_export_broker_connected", "1 while connected to the broker", registry=r
        )
        self.reconnects = Counter(
            "callbot_export_broker_reconnects", "Broker connection attempts that failed", registry=r
        )
