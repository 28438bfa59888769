"""What SIP signalling (callbot.sip) sees of a call: media, control and its end.

The SIP layer negotiates SDP and keeps dialogs; the call itself runs through
the same CallSession and RTP endpoint as a Converse call with RTP media.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callbot.call import CallSession
from callbot.callconfig import CallConfig
from callbot.server.calls import CallFactory
from callbot.server.rtp_media import RtpCallMedia
from callbot.server.sessions import LiveCall
from callbot.v1 import callbot_pb2 as pb

EventListener = Callable[[pb.ServerMessage], None]


class SipCall:
    """One call that arrived over SIP, as its dialog drives it."""

    def __init__(
        self, session: CallSession, rtp: RtpCallMedia, listeners: list[EventListener]
    ) -> None:
        self.session = session
        self._rtp = rtp
        # Whoever watches the call (a gRPC controller, tests) adds a listener here.
        self.listeners = listeners

    @property
    def call_id(self) -> str:
        return self.session.config.call_id

    @property
    def local_rtp(self) -> tuple[str, int]:
        addr = self._rtp.local_address
        return addr.host, addr.port

    @property
    def ended(self) -> bool:
        return self.session.ended

    async def set_remote(self, host: str, port: int) -> None:
        """A re-INVITE moved the peer's media."""
        await self._rtp.update_remote(host, port)

    def hold(self) -> None:
        self.session.hold()

    def resume(self) -> None:
        self.session.resume()

    def dtmf(self, digit: str, duration_ms: int) -> None:
        """A digit from SIP INFO (RFC 4733 digits arrive on the RTP port by themselves)."""
        self.session.on_dtmf(digit, duration_ms, pb.DTMF_SOURCE_SIP_INFO)

    def send_dtmf(self, digits: str, duration_ms: int) -> None:
        """The flow's send-DTMF action, as RFC 4733 events on the call's RTP."""
        self._rtp.stream.send_dtmf(digits, duration_ms)

    def caller_hung_up(self, detail: str = "BYE from the caller") -> None:
        self.session.end(pb.END_REASON_CALLER_HANGUP, detail)

    def end(self, reason: pb.EndReason.ValueType, detail: str) -> None:
        self.session.end(reason, detail)

    async def wait_ended(self) -> pb.EndReason.ValueType:
        """Wait for the end; the SIP layer sends BYE unless the caller hung up."""
        await self.session.wait_ended()
        return self.session.end_reason


class SipCallHost:
    """Opens calls for the SIP layer, with the same admission and records as Converse."""

    def __init__(self, calls: CallFactory) -> None:
        self._calls = calls
        self._watchers: set[asyncio.Task[None]] = set()

    async def open_call(self, config: CallConfig, remote_rtp: tuple[str, int] | None) -> SipCall:
        """Admit and start a call; raises ContractError when refused (map it to a 503/486)."""
        sessions = self._calls.sessions
        sessions.reserve(config.call_id)
        listeners: list[EventListener] = []

        def emit(msg: pb.ServerMessage) -> None:
            for listener in list(listeners):
                listener(msg)

        try:
            session = self._calls.new_session(config, emit)
            rtp = await self._calls.open_media(session)
            assert rtp is not None, "SIP calls always have RTP media"
            if remote_rtp is not None:
                await rtp.update_remote(*remote_rtp)
            live = self._calls.register(session, None)
        finally:
            sessions.unreserve(config.call_id)
        call = SipCall(session, rtp, listeners)
        watcher = asyncio.get_running_loop().create_task(self._watch(call, live, rtp))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return call

    async def _watch(self, call: SipCall, live: LiveCall, rtp: RtpCallMedia) -> None:
        await call.session.wait_ended()
        await self._calls.finish(live, rtp)

    async def close(self) -> None:
        for watcher in list(self._watchers):
            await watcher
