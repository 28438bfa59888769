"""Builds, tracks and finishes calls, whatever brought them (Converse or SIP)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from callbot.call import CallSession, EmitFn
from callbot.callconfig import CallConfig, MediaMode
from callbot.clock import Clock
from callbot.export.exporter import Exporter
from callbot.media.pacer import Pacer
from callbot.media.rtp_endpoint import RtpPortPool
from callbot.record import JsonlRecordWriter, TurnList
from callbot.server.contract import ContractError
from callbot.server.handlers import HandlerFactory
from callbot.server.metrics import Metrics
from callbot.server.rtp_media import RtpCallMedia
from callbot.server.sessions import LiveCall, SessionManager
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallOptions:
    """The per-call settings every new call gets from the service configuration."""

    server_id: str
    recordings_dir: Path
    grpc_playout_lead_s: float
    rtp_jitter_target_ms: int
    rtp_max_packets_per_s: float
    inband_dtmf: bool = True


class CallFactory:
    """Creates a CallSession with its media, registers it, and lands its record."""

    def __init__(
        self,
        *,
        clock: Clock,
        pacer: Pacer,
        sessions: SessionManager,
        metrics: Metrics,
        records: JsonlRecordWriter,
        options: CallOptions,
        rtp_pool: RtpPortPool | None,
        handlers: HandlerFactory,
        exporter: Exporter | None = None,
    ) -> None:
        self._handlers = handlers
        self._exporter = exporter
        self.clock = clock
        self.sessions = sessions
        self.metrics = metrics
        self.options = options
        self._pacer = pacer
        self._records = records
        self._rtp_pool = rtp_pool
        self.cleanups: set[asyncio.Task[None]] = set()

    def new_session(self, config: CallConfig, emit: EmitFn) -> CallSession:
        o = self.options
        observe = self.metrics.observe_event

        def emit_observed(msg: pb.ServerMessage) -> None:
            observe(msg)
            emit(msg)

        return CallSession(
            config,
            clock=self.clock,
            pacer=self._pacer,
            emit=emit_observed,
            server_id=o.server_id,
            make_handler=self._handlers.maker_for(config.flow),
            redact_text=self._exporter.redactor.text if self._exporter else None,
            recordings_dir=o.recordings_dir,
            outbound_lead_s=o.grpc_playout_lead_s if config.media_mode is MediaMode.GRPC else 0,
        )

    async def open_media(self, session: CallSession) -> RtpCallMedia | None:
        """Start the session's media: RTP ports for RTP/SIP calls, the stream for GRPC."""
        if session.config.media_mode is MediaMode.GRPC:
            session.start()
            return None
        if self._rtp_pool is None:
            raise ContractError(pb.ERROR_CODE_WRONG_MEDIA_MODE, "RTP media is not enabled")
        rtp = RtpCallMedia(
            session,
            pool=self._rtp_pool,
            clock=self.clock,
            pacer=self._pacer,
            metrics=self.metrics,
            jitter_target_ms=self.options.rtp_jitter_target_ms,
            max_packets_per_s=self.options.rtp_max_packets_per_s,
            inband_dtmf=self.options.inband_dtmf,
        )
        try:
            await rtp.open()
        except ContractError:
            rtp.close()
            raise
        return rtp

    def register(self, session: CallSession, task: asyncio.Task[object] | None) -> LiveCall:
        config = session.config
        log.info("call started", extra={"mode": config.media_mode.value, "flow": config.flow})
        exporter = self._exporter
        if exporter is not None:
            record = session.record
            record.turns = TurnList(record.turns, lambda turn: exporter.turn_final(record, turn))
            exporter.call_started(record)
        return self.sessions.add(session, task)

    def finish(self, live: LiveCall, rtp: RtpCallMedia | None) -> asyncio.Task[None]:
        """Release media and land the recording and record, even if the caller is cancelled."""
        if not live.session.ended:
            live.session.end(pb.END_REASON_CLIENT_GONE, "stream closed")
        if rtp is not None:
            rtp.close()
        task = asyncio.get_running_loop().create_task(self._land(live))
        self.cleanups.add(task)
        task.add_done_callback(self.cleanups.discard)
        return task

    async def _land(self, live: LiveCall) -> None:
        session = live.session
        try:
            await session.aclose()
        except Exception:  # a handler's failure must not lose the record
            log.exception("media handler failed to close")
        try:
            await session.finish_recording()
        except OSError:
            log.exception("recording could not be written")
        try:
            await self._records.write(session.record)
        except OSError:
            log.exception("call record could not be written")
        if self._exporter is not None:
            self._exporter.call_ended(session.record)
        self.sessions.remove(live)
