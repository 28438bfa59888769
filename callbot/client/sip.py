"""The SIP side of `callbot call --sip`: a small user agent that calls the bot over UDP.

It places one call (INVITE with a PCMU/telephone-event offer, ACK on 2xx, BYE
at the end) and answers what the bot may send inside the dialog: BYE (the
flow hung up), REFER (a transfer: accepted and reported, never followed),
UPDATE/re-INVITE/INFO/OPTIONS (200). Media is plain RTP on the caller's own
port; the SDP answer says where the bot listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from callbot.sip.dialog import new_tag
from callbot.sip.errors import SdpError, SipParseError
from callbot.sip.headers import NameAddr, parse_cseq
from callbot.sip.message import Headers, SipRequest, SipResponse, parse_message
from callbot.sip.message import serialize as sip_bytes
from callbot.sip.responses import response_to
from callbot.sip.sdp import parse_offer
from callbot.sip.transport import Peer

_MAX_MESSAGE = 65535
_T1 = 0.5  # RFC 3261 retransmission interval over UDP
_INVITE_TIMEOUT_S = 32.0
_BYE_TIMEOUT_S = 4.0


class SipCallError(RuntimeError):
    """The bot refused the call, or did not answer."""


@dataclass(frozen=True)
class Answered:
    """Where the bot's media is, from its SDP answer."""

    host: str
    port: int


def local_host_for(target: str) -> str:
    """The address of this machine that `target` can reach (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((target, 9))
        return str(s.getsockname()[0])


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self._on_message = on_message
        self.refused: OSError | None = None  # ICMP port unreachable: nothing listens there

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._on_message(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.refused = exc


class SipCaller:
    """One outgoing call to `host:port`; `on_bye`/`on_refer` report what the bot did."""

    def __init__(self, host: str, port: int, local_host: str) -> None:
        self.target = (host, port)
        self.local_host = local_host
        self.uri = f"sip:bot@{host}:{port}"
        self.remote_target = self.uri  # the bot's Contact, once answered
        self.call_id = f"{secrets.token_hex(8)}@callbot-call"
        self._tag = new_tag()
        self._to_tag = ""
        self._cseq = 1
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._local_port = 0
        self._responses: asyncio.Queue[SipResponse] = asyncio.Queue()
        self._last_ack: bytes | None = None
        self.on_bye: Callable[[], None] = lambda: None
        self.on_refer: Callable[[str], None] = lambda target: None
        self.on_progress: Callable[[int, str], None] = lambda status, reason: None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        # Connected to the bot: the kernel then reports a port nobody listens on.
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._received),
            local_addr=(self.local_host, 0),
            remote_addr=self.target,
        )
        self._transport, self._protocol = transport, protocol
        self._local_port = int(transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def invite(self, rtp_port: int) -> Answered:
        """Call the bot; return its media address once it answers (raises SipCallError)."""
        body = self._offer(rtp_port).encode()
        request = self._request("INVITE", self.uri, body, content_type="application/sdp")
        response = await self._transact(request, _INVITE_TIMEOUT_S)
        if response.status >= 300:
            raise SipCallError(f"the bot answered {response.status} {response.reason}")
        try:
            self._to_tag = NameAddr.parse(response.headers.get("To") or "").tag
            contact = response.headers.get("Contact")
            if contact:
                self.remote_target = NameAddr.parse(contact).uri
        except SipParseError as exc:
            raise SipCallError(f"the bot's 2xx is malformed: {exc}") from exc
        self._send(self._ack())
        try:
            answer = parse_offer(response.body)
        except SdpError as exc:
            raise SipCallError(f"the bot's SDP answer is unusable: {exc}") from exc
        return Answered(answer.host, answer.port)

    async def bye(self) -> None:
        """Hang up; waits briefly for the bot's 200."""
        self._cseq += 1
        request = self._request("BYE", self.remote_target)
        with contextlib.suppress(SipCallError):  # the bot is gone already: nothing to end
            await self._transact(request, _BYE_TIMEOUT_S)

    # ------------------------------------------------------------- internal

    def _offer(self, rtp_port: int) -> str:
        version = secrets.randbits(31)
        host = self.local_host
        return (
            f"v=0\r\no=- {version} {version} IN IP4 {host}\r\ns=callbot call\r\n"
            f"c=IN IP4 {host}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        )

    def _request(
        self, method: str, uri: str, body: bytes = b"", content_type: str = ""
    ) -> SipRequest:
        headers = Headers()
        headers.add("Via", self._via())
        headers.add("Max-Forwards", "70")
        headers.add("From", f"<sip:caller@{self.local_host}>;tag={self._tag}")
        to_tag = f";tag={self._to_tag}" if self._to_tag else ""
        headers.add("To", f"<{self.uri}>{to_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self._cseq} {method}")
        headers.add("Contact", f"<sip:caller@{self.local_host}:{self._local_port}>")
        headers.add("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, REFER, NOTIFY")
        headers.add("User-Agent", "callbot-call")
        if content_type:
            headers.add("Content-Type", content_type)
        return SipRequest(method, uri, headers, body)

    def _via(self) -> str:
        branch = f"z9hG4bK{secrets.token_hex(6)}"
        return f"SIP/2.0/UDP {self.local_host}:{self._local_port};branch={branch};rport"

    def _ack(self) -> SipRequest:
        ack = self._request("ACK", self.remote_target)
        ack.headers.set("CSeq", "1 ACK")
        return ack

    def _send(self, message: SipRequest | SipResponse) -> None:
        if self._transport is None:
            raise SipCallError("the SIP socket is closed")
        data = sip_bytes(message)
        if isinstance(message, SipRequest) and message.method == "ACK":
            self._last_ack = data
        self._transport.sendto(data)

    async def _transact(self, request: SipRequest, limit_s: float) -> SipResponse:
        """Send `request`, resending every T1 (doubling) until a response; return the final one."""
        method = request.method
        deadline = asyncio.get_running_loop().time() + limit_s
        interval = _T1
        provisional = False
        self._send(request)
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if self._protocol is not None and self._protocol.refused is not None:
                host, port = self.target
                raise SipCallError(f"nothing answers SIP at {host}:{port}")
            if remaining <= 0:
                raise SipCallError(f"no answer to {method} in {limit_s:.0f} s")
            wait = remaining if provisional else min(interval, remaining)
            try:
                response = await asyncio.wait_for(self._responses.get(), wait)
            except TimeoutError:
                if not provisional:  # after a 1xx the bot has it: stop resending
                    self._send(request)
                    interval = min(interval * 2, 4.0)
                continue
            if _cseq_method(response) != method:
                continue  # a late answer to an earlier request
            if response.status < 200:
                provisional = True
                self.on_progress(response.status, response.reason)
                continue
            return response

    def _received(self, data: bytes) -> None:
        try:
            message = parse_message(data, _MAX_MESSAGE)
        except SipParseError:
            return  # not for us, or garbled: UDP peers resend
        if isinstance(message, SipResponse):
            resent_ok = message.status >= 200 and _cseq_method(message) == "INVITE"
            if resent_ok and self._last_ack is not None and self._transport is not None:
                self._transport.sendto(self._last_ack)  # ACK every 2xx
            self._responses.put_nowait(message)
            return
        self._answer(message)

    def _answer(self, request: SipRequest) -> None:
        if request.method == "ACK":
            return
        status = 202 if request.method == "REFER" else 200
        self._send(response_to(request, status, Peer("UDP", *self.target)))
        if request.method == "BYE":
            self.on_bye()
        elif request.method == "REFER":
            try:
                target = NameAddr.parse(request.headers.get("Refer-To") or "").uri
            except SipParseError:
                target = ""
            self.on_refer(target)
            self._notify_transferred()

    def _notify_transferred(self) -> None:
        """Tell the bot the transfer worked (a final sipfrag NOTIFY), as a phone would."""
        self._cseq += 1
        notify = self._request(
            "NOTIFY", self.remote_target, b"SIP/2.0 200 OK\r\n", content_type="message/sipfrag"
        )
        notify.headers.add("Event", "refer")
        notify.headers.add("Subscription-State", "terminated;reason=noresource")
        self._send(notify)


def _cseq_method(response: SipResponse) -> str:
    try:
        return parse_cseq(response.headers.get("CSeq") or "")[1]
    except SipParseError:
        return ""
