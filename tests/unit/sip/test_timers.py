"""Transaction timers and session-timer negotiation on a virtual clock."""

from __future__ import annotations

import pytest

from callbot.clock import VirtualClock
from callbot.sip.actions import context_headers, refer_to
from callbot.sip.errors import SipRejected
from callbot.sip.message import Headers, SipRequest, SipResponse, parse_message
from callbot.sip.session_timer import negotiate
from callbot.sip.settings import SipConfigError, parse_targets
from callbot.sip.transactions import ClientTransaction, OkRetransmitter
from callbot.sip.transport import Peer

UDP = Peer("UDP", "127.0.0.1", 5060)


def test_2xx_is_resent_with_doubling_intervals_until_timer_h() -> None:
    clock = VirtualClock()
    sent: list[float] = []
    timeouts: list[bool] = []
    ok = OkRetransmitter(
        clock,
        lambda d, p: sent.append(clock.now()),
        data=b"x",
        peer=UDP,
        on_timeout=lambda: timeouts.append(True),
    )
    ok.start()
    clock.advance(40)
    gaps = [round(b - a, 3) for a, b in zip([1000.0, *sent], sent, strict=False)]
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert timeouts == [True] and sent[-1] <= 1032


def test_ack_stops_the_2xx() -> None:
    clock = VirtualClock()
    sent: list[float] = []
    ok = OkRetransmitter(
        clock, lambda d, p: sent.append(1), data=b"x", peer=UDP, on_timeout=lambda: None
    )
    ok.start()
    clock.advance(0.6)
    ok.stop()
    clock.advance(40)
    assert len(sent) == 1


async def test_client_transaction_times_out_with_408() -> None:
    clock = VirtualClock()
    sent: list[bytes] = []
    h = Headers()
    for name, value in [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bKa"),
        ("From", "<sip:a@h>;tag=1"),
        ("To", "<sip:b@h>"),
        ("Call-ID", "c"),
        ("CSeq", "2 BYE"),
    ]:
        h.add(name, value)
    tx = ClientTransaction(clock, lambda d, p: sent.append(d), SipRequest("BYE", "sip:b@h", h), UDP)
    tx.start()
    clock.advance(33)
    assert tx.result.done() and tx.result.result().status == 408
    assert len(sent) == 11  # 0, .5, 1.5, 3.5, 7.5, 11.5, … every 4 s up to 32 s
    assert isinstance(parse_message(sent[0], 4096), SipRequest)


def _headers(**values: str) -> Headers:
    h = Headers()
    for k, v in values.items():
        h.add(k.replace("_", "-"), v)
    return h


def test_session_timer_negotiation() -> None:
    t = negotiate(_headers(Session_Expires="1800;refresher=uas", Supported="timer"), 900, 90)
    assert (t.expires, t.refresher, t.deadline()) == (900, "uas", 450)
    t = negotiate(_headers(Supported="timer, 100rel"), 1800, 90)
    assert t.response_headers() == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    assert negotiate(_headers(Session_Expires="300"), 1800, 90).refresher == "uas"
    assert negotiate(_headers(), 1800, 90).expires == 0
    with pytest.raises(SipRejected) as info:
        negotiate(_headers(Session_Expires="60", Supported="timer"), 1800, 90)
    assert info.value.status == 422 and info.value.headers == [("Min-SE", "90")]


def test_transfer_context_goes_into_headers_safely() -> None:
    headers = context_headers("sip-1", {"intent": "billing\r\nX-Evil: 1", "uui": "ab"})
    assert ("User-to-User", "6162;encoding=hex") in headers
    assert all("\r" not in v and "\n" not in v for _, v in headers)
    assert refer_to("sip:desk@pbx", [("X-A", "b c")]) == "<sip:desk@pbx?X-A=b%20c>"
    assert parse_targets("desk=sip:desk@pbx, sip:x@pbx") == {
        "desk": "sip:desk@pbx",
        "sip:x@pbx": "sip:x@pbx",
    }
    with pytest.raises(SipConfigError):
        parse_targets("evil=http://x")
    assert SipResponse(200, "OK", Headers()).status == 200
