"""The Converse RPC: one stream = one call, config first, then media and control."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging

import grpc
import numpy as np

from callbot.call import CallSession
from callbot.callconfig import CallConfig, MediaMode
from callbot.logs import call_id_var
from callbot.media.codec import AudioCodec
from callbot.server import contract
from callbot.server.calls import CallFactory
from callbot.server.contract import ContractError, StartPolicy
from callbot.server.metrics import Metrics
from callbot.server.outbox import Outbox
from callbot.server.rtp_media import RtpCallMedia
from callbot.server.sessions import LiveCall
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

_EOF = grpc.aio.EOF  # type: ignore[attr-defined]
Context = grpc.aio.ServicerContext[pb.ClientMessage, pb.ServerMessage]


class CallbotService(pb_grpc.CallbotServicer):
    """Pairs each Converse stream with a new CallSession and pumps its messages."""

    def __init__(
        self,
        *,
        calls: CallFactory,
        policy: StartPolicy,
        auth_token: str,
        start_timeout_s: float,
        max_chunk_bytes: int,
        outbox_max_messages: int,
    ) -> None:
        self._calls = calls
        self._sessions = calls.sessions
        self._metrics = calls.metrics
        self._clock = calls.clock
        self._policy = policy
        self._auth_token = auth_token
        self._start_timeout_s = start_timeout_s
        self._max_chunk = max_chunk_bytes
        self._outbox_max = outbox_max_messages

    # The read/write form of a streaming handler (not a generator), hence the override.
    async def Converse(  # type: ignore[override]
        self, request_iterator: object, context: Context
    ) -> None:
        try:
            self._authenticate(context)
            config = await self._read_start(context)
            self._sessions.reserve(config.call_id)
        except ContractError as err:
            await self._refuse(context, err)
            return
        call_id_var.set(config.call_id)
        try:
            await self._run_call(config, context)
        except ContractError as err:
            await self._refuse(context, err)
        finally:
            self._sessions.unreserve(config.call_id)

    # ------------------------------------------------------------- start-up

    def _authenticate(self, context: Context) -> None:
        if not self._auth_token:
            return
        supplied = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                supplied = value.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), self._auth_token.encode()):
            raise ContractError(pb.ERROR_CODE_UNAUTHENTICATED, "missing or wrong bearer token")

    async def _read_start(self, context: Context) -> CallConfig:
        if not self._sessions.ready:
            raise ContractError(pb.ERROR_CODE_UNAVAILABLE, "server is not ready")
        try:
            first = await asyncio.wait_for(context.read(), self._start_timeout_s)
        except TimeoutError as exc:
            raise ContractError(
                pb.ERROR_CODE_START_REQUIRED,
                f"no start message within {self._start_timeout_s:g} s",
            ) from exc
        if first is _EOF or not isinstance(first, pb.ClientMessage):
            raise ContractError(pb.ERROR_CODE_START_REQUIRED, "stream closed before start")
        if first.WhichOneof("message") != "start":
            raise ContractError(
                pb.ERROR_CODE_START_REQUIRED, "the first message of a call must be start"
            )
        return contract.validate_start(first.start, self._policy)

    async def _refuse(self, context: Context, err: ContractError) -> None:
        self._metrics.contract_errors.labels(err.code_name).inc()
        log.info("call refused", extra={"code": err.code_name})
        with contextlib.suppress(Exception):
            await context.write(err.to_message())
        await context.abort(err.status, err.message)

    # ----------------------------------------------------------------- call

    async def _run_call(self, config: CallConfig, context: Context) -> None:
        outbox = Outbox(self._outbox_max)
        session = self._calls.new_session(config, outbox.put)
        outbox.on_overflow = lambda: session.end(
            pb.END_REASON_SLOW_CONSUMER, "client stopped reading"
        )
        rtp = await self._calls.open_media(session)
        live = self._calls.register(session, asyncio.current_task())
        session.send(
            pb.ServerMessage(
                accepted=pb.CallAccepted(
                    call_id=config.call_id,
                    codec=pb.Codec.Value(f"CODEC_{config.codec.value}"),
                    sample_rate_hz=config.sample_rate,
                    packet_ms=config.packet_ms,
                    language=config.language,
                    flow=config.flow,
                    server_id=self._calls.options.server_id,
                    local_rtp=rtp.local_address if rtp is not None else None,
                )
            )
        )
        reader = _CallReader(session, config, self._metrics, self._max_chunk, rtp)
        read_task = asyncio.get_running_loop().create_task(reader.run(context))
        try:
            await self._write_loop(context, outbox, live)
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read_task
            # Shielded: a vanished client cancels this task, but the record must land.
            await asyncio.shield(self._calls.finish(live, rtp))
        if reader.fatal is not None:
            await context.abort(reader.fatal.status, reader.fatal.message)

    async def _write_loop(self, context: Context, outbox: Outbox, live: LiveCall) -> None:
        mode = live.session.config.media_mode.value
        session = live.session
        while True:
            if session.ended:
                outbox.close()
            msg = await outbox.get()
            if msg is None:
                return
            live.write_pending_since = self._clock.now()
            await context.write(msg)
            live.write_pending_since = None
            if msg.HasField("audio"):
                self._metrics.frames_out.labels(mode).inc()
            elif msg.HasField("error"):
                self._metrics.contract_errors.labels(
                    pb.ErrorCode.Name(msg.error.code).removeprefix("ERROR_CODE_").lower()
                ).inc()


class _CallReader:
    """Reads client messages of a started call and applies them to the session."""

    def __init__(
        self,
        session: CallSession,
        config: CallConfig,
        metrics: Metrics,
        max_chunk: int,
        rtp: RtpCallMedia | None,
    ) -> None:
        self._session = session
        self._rtp = rtp
        self._config = config
        self._metrics = metrics
        self._max_chunk = max_chunk
        self._codec: AudioCodec = config.wire_codec(rtp=False)
        self._next_ts = 0
        self.fatal: ContractError | None = None

    async def run(self, context: Context) -> None:
        session = self._session
        try:
            while not session.ended:
                msg = await context.read()
                if msg is _EOF or not isinstance(msg, pb.ClientMessage):
                    session.end(pb.END_REASON_CLIENT_GONE, "client closed its stream")
                    return
                try:
                    await self._handle(msg)
                except ContractError as err:
                    session.send(err.to_message())
                    if err.fatal:
                        self.fatal = err
                        session.end(pb.END_REASON_PROTOCOL_ERROR, err.message)
        except (grpc.aio.AioRpcError, grpc.RpcError, asyncio.InvalidStateError):
            session.end(pb.END_REASON_CLIENT_GONE, "stream broken")

    async def _handle(self, msg: pb.ClientMessage) -> None:
        kind = msg.WhichOneof("message")
        session = self._session
        if kind == "audio":
            self._audio(msg.audio)
        elif kind == "start":
            raise ContractError(pb.ERROR_CODE_DUPLICATE_START, "a call takes exactly one start")
        elif kind == "dtmf":
            digit = contract.validate_dtmf(msg.dtmf)
            session.on_dtmf(digit, msg.dtmf.duration_ms, pb.DTMF_SOURCE_CLIENT)
        elif kind == "hold":
            session.hold()
        elif kind == "resume":
            session.resume()
        elif kind == "hangup":
            session.end(pb.END_REASON_CALLER_HANGUP, "client hung up")
        elif kind == "playback_mark":
            if self._config.media_mode is not MediaMode.GRPC:
                raise self._wrong_mode("playback_mark")
            if not session.on_playback_mark(msg.playback_mark.mark_id):
                raise ContractError(
                    pb.ERROR_CODE_UNKNOWN_MARK, "playback_mark names no mark sent", fatal=False
                )
        elif kind == "metadata_update":
            session.update_metadata(
                contract.validate_metadata_update(dict(msg.metadata_update.metadata))
            )
        elif kind == "media_update":
            if self._rtp is None:
                raise self._wrong_mode("media_update")
            host, port = contract.validate_rtp_address(msg.media_update.remote_rtp)
            await self._rtp.update_remote(host, port)
        elif kind == "action_result":
            result = msg.action_result
            if not session.on_action_result(result.action_id, result.status, result.detail):
                raise ContractError(
                    pb.ERROR_CODE_ACTION_UNKNOWN,
                    "action_result names no pending action",
                    fatal=False,
                )
        else:
            raise ContractError(pb.ERROR_CODE_INVALID_ARGUMENT, "empty client message", fatal=False)

    def _wrong_mode(self, what: str) -> ContractError:
        return ContractError(
            pb.ERROR_CODE_WRONG_MEDIA_MODE,
            f"{what} does not apply to a {self._config.media_mode.name} call",
            fatal=False,
        )

    def _audio(self, chunk: pb.AudioChunk) -> None:
        if self._config.media_mode is not MediaMode.GRPC:
            raise self._wrong_mode("audio")
        self._session.touch_media()
        size = len(chunk.audio)
        if size > self._max_chunk:
            raise ContractError(
                pb.ERROR_CODE_CHUNK_TOO_LARGE,
                f"audio chunk of {size} bytes exceeds {self._max_chunk}",
            )
        if size % self._codec.bytes_per_sample:
            raise ContractError(
                pb.ERROR_CODE_BAD_AUDIO, f"{size} bytes is not a whole number of samples"
            )
        if chunk.HasField("timestamp"):
            ts = chunk.timestamp
            if ts < self._next_ts:
                raise ContractError(
                    pb.ERROR_CODE_BAD_AUDIO,
                    f"audio timestamp went back ({ts} < {self._next_ts} samples)",
                )
            gap = ts - self._next_ts
            if gap > contract.MAX_GAP_S * self._config.sample_rate:
                raise ContractError(
                    pb.ERROR_CODE_BAD_AUDIO,
                    f"audio timestamp jumps ahead by more than {contract.MAX_GAP_S} s",
                )
            if gap:
                self._session.on_gap(gap)
                self._next_ts = ts
        if size == 0:
            return
        pcm = self._codec.decode(chunk.audio)
        self._next_ts += int(np.size(pcm))
        self._metrics.frames_in.labels(self._config.media_mode.value).inc()
        self._session.on_audio(pcm)
