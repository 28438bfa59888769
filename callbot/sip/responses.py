"""Building responses to requests (RFC 3261 8.2.6), including best effort for bad input."""

from __future__ import annotations

from callbot.sip.dialog import USER_AGENT
from callbot.sip.headers import Via
from callbot.sip.message import Headers, SipRequest, SipResponse, split_commas
from callbot.sip.transport import Peer

REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    405: "Method Not Allowed",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    420: "Bad Extension",
    422: "Session Interval Too Small",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    513: "Message Too Large",
}


def response_to(
    request: SipRequest,
    status: int,
    peer: Peer,
    *,
    reason: str = "",
    to_tag: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str = "",
) -> SipResponse:
    h = Headers()
    vias = request.headers.values("Via")
    for i, via in enumerate(vias):
        h.add("Via", _received(via, peer) if i == 0 else via)
    to = request.headers.get("To") or ""
    if to and to_tag and ";tag=" not in to.lower().replace(" ", "") and status != 100:
        to = f"{to};tag={to_tag}"
    # A malformed request may lack some of these: answer with what it had.
    for name, value in (
        ("From", request.headers.get("From")),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.headers.get("CSeq")),
    ):
        if value:
            h.add(name, value)
    h.add("Server", USER_AGENT)
    for name, value in headers or []:
        h.add(name, value)
    if body:
        h.add("Content-Type", content_type)
    return SipResponse(status, reason or REASONS.get(status, "Unknown"), h, body)


def _received(via: str, peer: Peer) -> str:
    """RFC 3581: fill rport and add received so responses follow the source address."""
    try:
        parsed = Via.parse(via)
    except ValueError:
        return via
    out = via
    if "rport" in parsed.params and not parsed.params["rport"]:
        out = _replace_param(out, "rport", f"rport={peer.port}")
    if parsed.host != peer.host or "rport" in parsed.params:
        out += f";received={peer.host}"
    return out


def _replace_param(via: str, name: str, replacement: str) -> str:
    parts = via.split(";")
    return ";".join(replacement if p.strip().lower() == name else p for p in parts)


def best_effort_request(data: bytes) -> SipRequest | None:
    """Enough of a malformed request to answer 400 (Via, From, To, Call-ID, CSeq), or None."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    first = lines[0].split(" ")
    if len(first) != 3 or first[2] != "SIP/2.0" or first[0] == "ACK":
        return None
    h = Headers()
    for line in lines[1:65]:
        name, sep, value = line.partition(":")
        if sep and name.strip() and len(line) < 2048:
            try:
                h.add(name.strip(), value.strip())
            except ValueError:
                continue
    if not h.get("Via") or not split_commas(h.get("Via") or ""):
        return None  # nowhere to send an answer
    return SipRequest(first[0][:32], first[1][:256], h)
