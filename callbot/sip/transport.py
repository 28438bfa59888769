"""SIP over UDP and TCP: datagrams and framed stream messages in, bytes out."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from callbot.sip.errors import SipParseError
from callbot.sip.message import frame_stream

log = logging.getLogger(__name__)

MAX_TCP_CONNECTIONS = 1024
_BIND_ATTEMPTS = 20  # port 0: tries for a number free for both UDP and TCP


@dataclass(frozen=True)
class Peer:
    """Where a message came from and where its responses go (RFC 3581 style)."""

    transport: str  # "UDP" or "TCP"
    host: str
    port: int


OnMessage = Callable[[bytes, Peer], None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on_message: OnMessage) -> None:
        self._on_message = on_message

    def datagram_received(self, data: bytes, addr: tuple[str | Any, ...]) -> None:
        self._on_message(data, Peer("UDP", str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket error: %s", exc.__class__.__name__)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: SipTransports) -> None:
        self._owner = owner
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        host, port = self.transport.get_extra_info("peername")[:2]
        self.peer = Peer("TCP", str(host), int(port))
        if not self._owner.adopt(self):
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        self._buffer += data
        try:
            while (message := frame_stream(self._buffer, self._owner.max_bytes)) is not None:
                self._owner.on_message(message, self.peer)
        except SipParseError as exc:
            # A stream cannot resynchronise after a framing error: drop the connection.
            log.warning("closing SIP TCP connection: %s", exc)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.forget(self)


class SipTransports:
    """One UDP socket and one TCP listener on the same address."""

    def __init__(self, on_message: OnMessage, max_bytes: int) -> None:
        self.on_message = on_message
        self.max_bytes = max_bytes
        self.udp_port = 0
        self.tcp_port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[Peer, _TcpConnection] = {}
        self._connecting: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, tcp: bool) -> None:
        """Bind UDP, then TCP on the same port number (port 0: whatever UDP got).

        With port 0 the UDP port's number may already be taken for TCP (another
        socket's ephemeral port): then both are bound again on a new number.
        """
        loop = asyncio.get_running_loop()
        for attempt in range(_BIND_ATTEMPTS):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self.on_message), local_addr=(host, port)
            )
            self._udp = udp
            self.udp_port = int(udp.get_extra_info("sockname")[1])
            if not tcp:
                return
            try:
                self._server = await loop.create_server(
                    lambda: _TcpConnection(self), host, self.udp_port, reuse_address=True
                )
            except OSError as exc:
                udp.close()
                if port or exc.errno != errno.EADDRINUSE or attempt == _BIND_ATTEMPTS - 1:
                    raise
                continue
            self.tcp_port = int(self._server.sockets[0].getsockname()[1])
            return

    def adopt(self, conn: _TcpConnection) -> bool:
        if conn.peer is None or len(self._connections) >= MAX_TCP_CONNECTIONS:
            return False
        self._connections[conn.peer] = conn
        return True

    def forget(self, conn: _TcpConnection) -> None:
        if conn.peer is not None and self._connections.get(conn.peer) is conn:
            del self._connections[conn.peer]

    def send(self, data: bytes, peer: Peer) -> None:
        if peer.transport == "UDP":
            if self._udp is not None and not self._udp.is_closing():
                self._udp.sendto(data, (peer.host, peer.port))
            return
        conn = self._connections.get(peer)
        if conn is not None and conn.transport is not None and not conn.transport.is_closing():
            conn.transport.write(data)
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(data, peer))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(5):
                transport, conn = await loop.create_connection(
                    lambda: _TcpConnection(self), peer.host, peer.port
                )
        except (OSError, TimeoutError) as exc:
            log.warning("cannot open a SIP TCP connection: %s", exc.__class__.__name__)
            return
        del conn
        transport.write(data)

    async def close(self) -> None:
        for task in list(self._connecting):
            task.cancel()
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections.values()):
                if conn.transport is not None:
                    conn.transport.close()
            await self._server.wait_closed()
            self._server = None
