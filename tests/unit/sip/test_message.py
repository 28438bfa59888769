"""SIP message parsing and serialization: round trips, strictness, limits."""

from __future__ import annotations

import pytest

from callbot.sip.errors import SipParseError
from callbot.sip.headers import NameAddr, SipUri, Via
from callbot.sip.message import SipRequest, SipResponse, frame_stream, parse_message, serialize

INVITE = (
    b"INVITE sip:bot@127.0.0.1:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.2\r\n"
    b'f: "Alice" <sip:alice@pbx>;tag=a1\r\n'
    b"t: <sip:bot@127.0.0.1>\r\n"
    b"i: abc@pbx\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Max-Forwards: 70\r\n"
    b"X-Long: one\r\n  two\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n\r\nv=0\r"
)


def test_parses_compact_forms_folding_and_body() -> None:
    msg = parse_message(INVITE, 4096)
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE" and msg.call_id == "abc@pbx"
    assert msg.headers.get("from") == '"Alice" <sip:alice@pbx>;tag=a1'
    assert msg.headers.values("Via")[1] == "SIP/2.0/UDP 10.0.0.2"
    assert msg.headers.get("X-Long") == "one two"
    assert msg.body == b"v=0\r"


def test_round_trip() -> None:
    msg = parse_message(INVITE, 4096)
    again = parse_message(serialize(msg), 4096)
    assert again == msg


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400, "CSeq method"),
        (INVITE.replace(b"CSeq: 7 INVITE\r\n", b""), 400, "missing CSeq"),
        (INVITE.replace(b"l: 4", b"l: 40"), 400, "Content-Length 40"),
        (INVITE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505, "version"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 999"), 400, "Max-Forwards"),
        (INVITE.replace(b"\r\n\r\n", b"\r\n"), 400, "blank line"),
        (b"INVITE sip:x SIP/2.0\r\n\xff\xfe: y\r\n\r\n", 400, "UTF-8"),
        (INVITE.replace(b"X-Long", b"X Long"), 400, "header line"),
    ],
)
def test_rejects_malformed(data: bytes, status: int, words: str) -> None:
    with pytest.raises(SipParseError, match=words) as info:
        parse_message(data, 4096)
    assert info.value.status == status


def test_size_limit_is_513() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(INVITE, 100)
    assert info.value.status == 513


def test_response_and_stream_framing() -> None:
    resp = parse_message(b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n", 4096)
    assert isinstance(resp, SipResponse) and resp.status == 180
    buf = bytearray(b"\r\n\r\n" + INVITE + INVITE[:30])
    assert frame_stream(buf, 4096) == INVITE
    assert frame_stream(buf, 4096) is None
    with pytest.raises(SipParseError, match="Content-Length is required"):
        frame_stream(bytearray(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), 4096)


def test_structured_headers() -> None:
    assert NameAddr.parse('"A" <sip:a@h>;tag=1').tag == "1"
    assert NameAddr.parse("sip:a@h;tag=2").uri == "sip:a@h"
    uri = SipUri.parse("sip:bot@[::1]:5080;transport=tcp?X-A=1")
    assert (uri.host, uri.port, uri.transport, uri.headers) == ("::1", 5080, "tcp", "X-A=1")
    via = Via.parse("SIP/2.0/TCP 10.0.0.1:5061;branch=z9hG4bKx;rport")
    assert (via.transport, via.port, via.branch) == ("TCP", 5061, "z9hG4bKx")
    with pytest.raises(SipParseError):
        SipUri.parse("http://x")
    with pytest.raises(SipParseError):
        Via.parse("SIP/3.0/UDP h")
