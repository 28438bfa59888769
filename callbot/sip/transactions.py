"""RFC 3261 17 transaction timers: server response caches, 2xx retransmission, client requests."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from callbot.clock import Clock, TimerHandle
from callbot.sip.message import Headers, SipRequest, SipResponse, serialize
from callbot.sip.transport import Peer

T1 = 0.5
T2 = 4.0
T4 = 5.0

Send = Callable[[bytes, Peer], None]


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


@dataclass
class _Cached:
    response: bytes | None
    peer: Peer
    expiry: TimerHandle | None = None


class ServerTransactions:
    """Absorbs retransmitted requests: the last response is sent again, the request dropped."""

    def __init__(self, clock: Clock, send: Send, t1: float = T1) -> None:
        self._clock = clock
        self._send = send
        self._t1 = t1
        self._entries: dict[tuple[str, str, str], _Cached] = {}

    @staticmethod
    def key(request: SipRequest, branch: str) -> tuple[str, str, str]:
        method = "INVITE" if request.method == "ACK" else request.method
        return branch, request.call_id, method

    def seen(self, key: tuple[str, str, str]) -> bool:
        """True if this is a retransmission (its cached response, if any, went out again)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry.response is not None:
            self._send(entry.response, entry.peer)
        return True

    def begin(self, key: tuple[str, str, str], peer: Peer) -> None:
        self._entries[key] = _Cached(None, peer)

    def respond(self, key: tuple[str, str, str], response: SipResponse) -> None:
        """Send a response and keep it for retransmissions until Timer J/H runs out."""
        entry = self._entries.get(key)
        data = serialize(response)
        if entry is None:
            return
        entry.response = data
        self._send(data, entry.peer)
        if response.status >= 200:
            if entry.expiry is not None:
                entry.expiry.cancel()
            linger = 0.0 if entry.peer.transport == "TCP" else 64 * self._t1
            entry.expiry = self._clock.call_at(
                self._clock.now() + max(linger, 0.001), lambda: self._drop(key)
            )

    def _drop(self, key: tuple[str, str, str]) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        for entry in self._entries.values():
            if entry.expiry is not None:
                entry.expiry.cancel()
        self._entries.clear()


class OkRetransmitter:
    """The UAS core resends a 2xx to INVITE until the ACK (RFC 3261 13.3.1.4)."""

    def __init__(
        self,
        clock: Clock,
        send: Send,
        *,
        data: bytes,
        peer: Peer,
        on_timeout: Callable[[], None],
        t1: float = T1,
    ) -> None:
        self._clock = clock
        self._send = send
        self._data = data
        self._peer = peer
        self._on_timeout = on_timeout
        self._t1 = t1
        self._interval = t1
        self._deadline = 0.0
        self._timer: TimerHandle | None = None

    def start(self) -> None:
        """Arm the timers; the first 2xx went out through the server transaction."""
        self._deadline = self._clock.now() + 64 * self._t1
        self._arm()

    def _arm(self) -> None:
        now = self._clock.now()
        if self._peer.transport == "UDP":
            self._timer = self._clock.call_at(now + self._interval, self._fire)
        else:
            self._timer = self._clock.call_at(self._deadline, self._fire)

    def _fire(self) -> None:
        if self._clock.now() >= self._deadline - 1e-9:
            self._timer = None
            self._on_timeout()
            return
        self._send(self._data, self._peer)
        self._interval = min(self._interval * 2, T2)
        self._arm()

    def resend(self) -> None:
        """A retransmitted INVITE gets the 2xx again."""
        self._send(self._data, self._peer)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class ClientTransaction:
    """A non-INVITE request the bot sends (BYE, REFER, UPDATE): Timers E and F."""

    def __init__(
        self, clock: Clock, send: Send, request: SipRequest, peer: Peer, t1: float = T1
    ) -> None:
        self._clock = clock
        self._send = send
        self._data = serialize(request)
        self._peer = peer
        self._t1 = t1
        self._interval = t1
        self._timers: list[TimerHandle] = []
        self.result: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self._send(self._data, self._peer)
        now = self._clock.now()
        self._timers.append(self._clock.call_at(now + 64 * self._t1, self._timeout))
        if self._peer.transport == "UDP":
            self._timers.append(self._clock.call_at(now + self._interval, self._retransmit))

    def _retransmit(self) -> None:
        if self.result.done():
            return
        self._send(self._data, self._peer)
        self._interval = min(self._interval * 2, T2)
        self._timers.append(
            self._clock.call_at(self._clock.now() + self._interval, self._retransmit)
        )

    def _timeout(self) -> None:
        self.finish(SipResponse(408, "Request Timeout", _empty_headers()))

    def on_response(self, response: SipResponse) -> None:
        if response.status >= 200:
            self.finish(response)
        else:
            # A provisional response moves Timer E to T2 (RFC 3261 17.1.2.2).
            self._interval = T2

    def finish(self, response: SipResponse) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if not self.result.done():
            self.result.set_result(response)


def _empty_headers() -> Headers:
    return Headers()
