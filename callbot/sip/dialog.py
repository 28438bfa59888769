"""One SIP dialog on the UAS side: identity, route set, CSeq, and requests within it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from callbot.clock import TimerHandle
from callbot.server.sip_host import SipCall
from callbot.sip.errors import SipParseError
from callbot.sip.headers import NameAddr, SipUri, is_ip_literal
from callbot.sip.message import Headers, SipRequest
from callbot.sip.sdp import Offer, SdpSession
from callbot.sip.transactions import OkRetransmitter, new_branch
from callbot.sip.transport import Peer

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY"
SUPPORTED = "timer, replaces"
USER_AGENT = "callbot"


def new_tag() -> str:
    return secrets.token_hex(6)


@dataclass
class Dialog:
    """State the UAS keeps per call; the SipCall holds the media side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_addr: str  # the INVITE's To, without our tag
    remote_addr: str  # the INVITE's From, with their tag
    remote_target: str
    route_set: list[str]
    peer: Peer
    source_host: str
    remote_cseq: int
    invite_key: tuple[str, str, str]
    offer: Offer
    sdp: SdpSession
    local_cseq: int = field(default_factory=lambda: secrets.randbelow(1 << 20) + 1)
    call: SipCall | None = None
    confirmed: bool = False
    answered: bool = False
    cancelled: bool = False
    terminated: bool = False
    remote_supports_update: bool = False
    ok: OkRetransmitter | None = None
    session_expires: int = 0
    refresher: str = ""
    session_timer: TimerHandle | None = None
    transfer_pending: bool = False

    @property
    def to_header(self) -> str:
        return f"{self.local_addr};tag={self.local_tag}"

    def next_hop(self) -> Peer:
        """Where in-dialog requests go: the first route, else the remote target (IP literals)."""
        target = self.route_set[0] if self.route_set else self.remote_target
        try:
            uri = SipUri.parse(NameAddr.parse(target).uri)
        except SipParseError:
            return self.peer
        if not is_ip_literal(uri.host):
            return self.peer
        if self.peer.transport == "TCP" or not is_ip_literal(uri.host):
            return self.peer  # reuse the connection (or address) the call came on
        return Peer("UDP", uri.host, uri.port or 5060)

    def request(
        self,
        method: str,
        *,
        via: tuple[str, int],
        contact: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str = "",
    ) -> SipRequest:
        """A new request within the dialog (RFC 3261 12.2.1.1)."""
        self.local_cseq += 1
        hop = self.next_hop()
        h = Headers()
        h.add("Via", f"SIP/2.0/{hop.transport} {_hostport(*via)};branch={new_branch()};rport")
        h.add("Max-Forwards", "70")
        h.add("From", self.to_header)
        h.add("To", self.remote_addr)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.local_cseq} {method}")
        for route in self.route_set:
            h.add("Route", route)
        h.add("Contact", contact)
        h.add("User-Agent", USER_AGENT)
        for name, value in headers or []:
            h.add(name, value)
        if body:
            h.add("Content-Type", content_type)
        uri = NameAddr.parse(self.remote_target).uri
        return SipRequest(method, uri, h, body)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def contact_for(host: str, port: int, transport: str) -> str:
    tp = ";transport=tcp" if transport == "TCP" else ""
    return f"<sip:callbot@{_hostport(host, port)}{tp}>"


def via_hostport(host: str, port: int) -> str:
    return _hostport(host, port)
