"""The SIP front door: `SipService(host, settings, clock)`, then `await start()`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from callbot.clock import Clock
from callbot.server.sip_host import SipCall, SipCallHost
from callbot.sip.settings import SipSettings
from callbot.sip.transport import Peer, SipTransports
from callbot.sip.uas import SipUas

log = logging.getLogger(__name__)


class SipService:
    """SIP UAS over UDP and TCP in front of a SipCallHost. Pure constructor."""

    def __init__(self, host: SipCallHost, settings: SipSettings, clock: Clock) -> None:
        self.settings = settings
        self._transports = SipTransports(self._on_message, settings.max_message_bytes)
        self.uas = SipUas(host, settings, clock, self._transports.send)
        self.udp_port = 0
        self.tcp_port = 0

    def set_dtmf_sender(self, sender: Callable[[SipCall, str, int], None]) -> None:
        """Hook for `send_dtmf` actions: RFC 4733 events are the RTP endpoint's job."""
        self.uas.dtmf_sender = sender

    async def start(self) -> None:
        s = self.settings
        await self._transports.start(s.host, s.port, s.tcp)
        self.udp_port = self._transports.udp_port
        self.tcp_port = self._transports.tcp_port
        self.uas.ports.update(UDP=self.udp_port, TCP=self.tcp_port or self.udp_port)
        log.info("SIP listening", extra={"udp_port": self.udp_port, "tcp_port": self.tcp_port})

    @property
    def active_dialogs(self) -> int:
        return len(self.uas.dialogs)

    async def stop(self) -> None:
        """End every SIP call (BYE), then close the sockets."""
        await self.uas.close()
        await self._transports.close()

    def _on_message(self, data: bytes, peer: Peer) -> None:
        self.uas.on_message(data, peer)
