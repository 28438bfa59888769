"""Bad input from the network: clear responses, nothing leaked, other calls unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callbot.sip.message import SipResponse, parse_message
from tests.integration.sip.sip_helpers import SipBot, records, sip_bot, wait_for
from tests.integration.sip.test_pjsua import Pjsua
from tests.rtp_helpers import udp_peer

pytestmark = pytest.mark.integration

SDP = (
    "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP {fmts}\r\n{attrs}"
)


def invite(port: int, *, call_id: str, sdp: str, extra: str = "", to_tag: str = "") -> bytes:
    body = sdp.encode()
    tag = f";tag={to_tag}" if to_tag else ""
    return (
        f"INVITE sip:bot@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:a@127.0.0.1>;tag=t{call_id}\r\nTo: <sip:bot@127.0.0.1>{tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:{port}>\r\n"
        f"Max-Forwards: 70\r\n{extra}Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(
    bot_port: int, data: bytes, expect: int = 1, timeout: float = 3
) -> list[SipResponse]:
    peer = await udp_peer()
    try:
        peer.send(data.replace(b"127.0.0.1:PEER", f"127.0.0.1:{peer.port}".encode()), bot_port)
        async with asyncio.timeout(timeout):
            while len(peer.received) < expect:
                await asyncio.sleep(0.01)
        out = [parse_message(r.data, 65535) for r in peer.received]
        return [m for m in out if isinstance(m, SipResponse)]
    finally:
        peer.close()


async def test_bad_input_gets_clear_answers_while_a_call_goes_on(tmp_path: Path) -> None:
    async with sip_bot(
        tmp_path, sip_allowed_sources="127.0.0.1/32", sip_max_message_bytes=4096
    ) as bot:
        good = await Pjsua.call(bot, "wait:3", "hangup")
        try:
            await _bad_inputs(bot, good)
        finally:
            if good.proc.returncode is None:
                good.proc.kill()
                await good.proc.wait()
    recs = list(records(tmp_path).values())
    assert [r["end_reason"] for r in recs] == ["caller_hangup"], "only the good call ran"


async def _bad_inputs(bot: SipBot, good: Pjsua) -> None:
    if True:
        await good.until("ready")
        port = bot.port
        g711 = SDP.format(fmts="0 101", attrs="a=rtpmap:101 telephone-event/8000\r\n")
        # Malformed: no CSeq → 400 naming the defect.
        bad = invite(port, call_id="m1", sdp=g711).replace(b"CSeq: 1 INVITE\r\n", b"")
        (r,) = await exchange(port, bad)
        assert r.status == 400 and "CSeq" in r.reason
        # Garbage with no Via at all: dropped silently, the service is still there.
        peer = await udp_peer()
        peer.send(b"\x00\xffnot sip at all\r\n\r\n", port)
        peer.close()
        # Too large.
        big = invite(port, call_id="m2", sdp=g711, extra="X-Pad: " + "a" * 5000 + "\r\n")
        (r,) = await exchange(port, big)
        assert r.status == 513
        # No common codec; T.38 only; video only → 488.
        for cid, sdp in [
            ("c1", SDP.format(fmts="18", attrs="a=rtpmap:18 G729/8000\r\n")),
            (
                "c2",
                SDP.format(fmts="t38", attrs="").replace(
                    "m=audio 40000 RTP/AVP", "m=image 40000 udptl"
                ),
            ),
            (
                "c3",
                SDP.format(fmts="96", attrs="a=rtpmap:96 H264/90000\r\n").replace(
                    "m=audio", "m=video"
                ),
            ),
        ]:
            responses = await exchange(port, invite(port, call_id=cid, sdp=sdp))
            assert responses[-1].status == 488, cid
            assert responses[-1].headers.get("Warning")
        # BYE for an unknown dialog → 481; REGISTER → 405 with Allow; unknown method → 501.
        bye = invite(port, call_id="u1", sdp="", to_tag="nope").replace(b"INVITE", b"BYE")
        (r,) = await exchange(port, bye)
        assert r.status == 481
        reg = invite(port, call_id="r1", sdp="").replace(b"INVITE", b"REGISTER")
        (r,) = await exchange(port, reg)
        assert r.status == 405 and "INVITE" in (r.headers.get("Allow") or "")
        (r,) = await exchange(port, invite(port, call_id="x1", sdp="").replace(b"INVITE", b"FROB"))
        assert r.status == 501
        # OPTIONS keep-alive → 200.
        (r,) = await exchange(
            port, invite(port, call_id="o1", sdp="").replace(b"INVITE", b"OPTIONS")
        )
        assert r.status == 200
        await good.finish()
        await wait_for(lambda: bot.sip.active_dialogs == 0)
        assert bot.sip.uas.per_source == {}
        assert bot.server.sessions is not None and bot.server.sessions.active == 0


async def test_invite_from_a_source_not_allowed_is_forbidden(tmp_path: Path) -> None:
    async with sip_bot(tmp_path, sip_allowed_sources="10.0.0.0/8") as bot:
        g711 = SDP.format(fmts="0", attrs="")
        (r,) = await exchange(bot.port, invite(bot.port, call_id="f1", sdp=g711))
        assert r.status == 403
        assert bot.server.sessions is not None and bot.server.sessions.active == 0
    assert records(tmp_path) == {}


async def test_cancel_while_ringing_gets_487(tmp_path: Path) -> None:
    async with sip_bot(tmp_path, sip_ring_ms=3000) as bot:
        g711 = SDP.format(fmts="8", attrs="")
        peer = await udp_peer()
        try:
            inv = invite(bot.port, call_id="k1", sdp=g711)
            peer.send(inv, bot.port)
            await wait_for(lambda: any(b" 180 " in r.data for r in peer.received))
            cancel = (
                inv.split(b"\r\nContent-Type")[0]
                .replace(b"INVITE sip", b"CANCEL sip")
                .replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL")
                + b"\r\nContent-Length: 0\r\n\r\n"
            )
            peer.send(cancel, bot.port)
            await wait_for(lambda: any(b" 487 " in r.data for r in peer.received))
            statuses = [parse_message(r.data, 65535) for r in peer.received]
            codes = [m.status for m in statuses if isinstance(m, SipResponse)]
            assert 200 in codes and 487 in codes and codes.count(200) == 1
        finally:
            peer.close()
        await wait_for(lambda: bot.server.sessions is not None and bot.server.sessions.active == 0)
        assert bot.sip.active_dialogs == 0
