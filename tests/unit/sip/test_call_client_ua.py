"""`callbot call --sip`'s user agent answers what the bot sends inside the dialog."""

from __future__ import annotations

from typing import Any, cast

from callbot.client.sip import SipCaller
from callbot.sip.message import SipRequest, SipResponse, parse_message


class _Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any = None) -> None:
        self.sent.append(data)


def _caller() -> tuple[SipCaller, _Wire]:
    caller = SipCaller("127.0.0.1", 5060, "127.0.0.1")
    wire = _Wire()
    caller._transport = cast(Any, wire)
    caller._local_port = 40000
    caller.remote_target = "sip:bot@127.0.0.1:5060"
    return caller, wire


def test_a_refer_is_accepted_reported_and_notified() -> None:
    caller, wire = _caller()
    targets: list[str] = []
    caller.on_refer = targets.append
    refer = (
        b"REFER sip:caller@127.0.0.1:40000 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
        b"From: <sip:bot@127.0.0.1:5060>;tag=bot1\r\n"
        b"To: <sip:caller@127.0.0.1>;tag=me1\r\n"
        b"Call-ID: c1\r\nCSeq: 7 REFER\r\n"
        b'Refer-To: "Cards" <sip:cards@pbx.example;transport=udp>;x=1\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    caller._received(refer)
    assert targets == ["sip:cards@pbx.example;transport=udp"]
    accepted, notify = (parse_message(d, 65535) for d in wire.sent)
    assert isinstance(accepted, SipResponse) and accepted.status == 202
    assert accepted.headers.get("CSeq") == "7 REFER"
    assert accepted.headers.get("Call-ID") == "c1"
    assert (accepted.headers.get("To") or "").endswith("tag=me1")
    assert isinstance(notify, SipRequest) and notify.method == "NOTIFY"
    assert notify.headers.get("Event") == "refer" and notify.body.startswith(b"SIP/2.0 200")


def test_a_bye_is_answered_and_reported() -> None:
    caller, wire = _caller()
    byes: list[bool] = []
    caller.on_bye = lambda: byes.append(True)
    caller._received(
        b"BYE sip:caller@127.0.0.1:40000 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKdef\r\n"
        b"From: <sip:bot@127.0.0.1:5060>;tag=bot1\r\nTo: <sip:caller@127.0.0.1>;tag=me1\r\n"
        b"Call-ID: c1\r\nCSeq: 8 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    ok = parse_message(wire.sent[0], 65535)
    assert byes == [True] and isinstance(ok, SipResponse) and ok.status == 200
    assert ok.headers.get("CSeq") == "8 BYE"
