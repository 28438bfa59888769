"""RFC 4028 with short timers: refreshes keep a call alive; without them the bot sends BYE.

pjsua2 refuses session intervals under 90 s (PJSIP's ABS_MIN_SE), so a scripted UDP
caller drives this one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callbot.sip.message import SipRequest, SipResponse, parse_message
from tests.integration.sip.sip_helpers import records, sip_bot, wait_for
from tests.integration.sip.test_bad_input import SDP, invite
from tests.rtp_helpers import UdpPeer, udp_peer

pytestmark = pytest.mark.integration


def _messages(peer: UdpPeer) -> list[SipRequest | SipResponse]:
    return [parse_message(r.data, 65535) for r in peer.received]


def _ok(peer: UdpPeer, cseq: str) -> SipResponse | None:
    for m in _messages(peer):
        if isinstance(m, SipResponse) and m.status == 200 and m.headers.get("CSeq") == cseq:
            return m
    return None


async def test_refreshes_keep_the_call_and_a_missing_one_ends_it(tmp_path: Path) -> None:
    async with sip_bot(tmp_path, sip_min_se_s=1, sip_session_expires_s=30) as bot:
        peer = await udp_peer()
        try:
            sdp = SDP.format(fmts="0", attrs="")
            timer = "Session-Expires: 3;refresher=uac\r\nSupported: timer\r\n"
            first = invite(bot.port, call_id="st1", sdp=sdp, extra=timer)
            first = first.replace(
                f"127.0.0.1:{bot.port};branch".encode(), f"127.0.0.1:{peer.port};branch".encode()
            )
            first = first.replace(
                f"<sip:a@127.0.0.1:{bot.port}>".encode(), f"<sip:a@127.0.0.1:{peer.port}>".encode()
            )
            peer.send(first, bot.port)
            await wait_for(lambda: _ok(peer, "1 INVITE") is not None)
            ok = _ok(peer, "1 INVITE")
            assert ok is not None
            assert ok.headers.get("Session-Expires") == "3;refresher=uac"
            assert ok.headers.get("Require") == "timer"
            to = ok.headers.get("To") or ""
            ack = (
                f"ACK sip:bot@127.0.0.1:{bot.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bKack1\r\n"
                f"From: <sip:a@127.0.0.1>;tag=tst1\r\nTo: {to}\r\nCall-ID: st1\r\nCSeq: 1 ACK\r\n"
                "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            peer.send(ack, bot.port)
            for n in range(2, 6):  # 4 refreshes, 1 s apart: 4 s > the 3 s interval
                await asyncio.sleep(1.0)
                refresh = (
                    first.replace(b"CSeq: 1 INVITE", f"CSeq: {n} INVITE".encode())
                    .replace(b"To: <sip:bot@127.0.0.1>", f"To: {to}".encode())
                    .replace(b"branch=z9hG4bKst1", f"branch=z9hG4bKst1r{n}".encode())
                )
                peer.send(refresh, bot.port)
                await wait_for(lambda n=n: _ok(peer, f"{n} INVITE") is not None)
                peer.send(ack.replace(b"CSeq: 1 ACK", f"CSeq: {n} ACK".encode()), bot.port)
            assert bot.sip.active_dialogs == 1, "refreshed: still up"
            # No more refreshes: the bot ends the call before the 3 s run out (at 2 s).
            await wait_for(
                lambda: any(
                    isinstance(m, SipRequest) and m.method == "BYE" for m in _messages(peer)
                ),
                timeout=5,
            )
            bye = next(
                m for m in _messages(peer) if isinstance(m, SipRequest) and m.method == "BYE"
            )
            peer.send(
                (
                    f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\n"
                    f"From: {bye.headers.get('From')}\r\nTo: {bye.headers.get('To')}\r\n"
                    f"Call-ID: st1\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode(),
                bot.port,
            )
            await wait_for(lambda: bot.sip.active_dialogs == 0)
            assert bot.sip.uas.stats["session_expired"] == 1
        finally:
            peer.close()
    rec = next(iter(records(tmp_path).values()))
    assert rec["end_detail"] == "session timer expired"


async def test_too_small_session_interval_gets_422(tmp_path: Path) -> None:
    async with sip_bot(tmp_path, sip_min_se_s=90) as bot:
        peer = await udp_peer()
        try:
            data = invite(
                bot.port,
                call_id="st2",
                sdp=SDP.format(fmts="0", attrs=""),
                extra="Session-Expires: 30\r\nSupported: timer\r\n",
            )
            peer.send(data, bot.port)
            await wait_for(lambda: len(peer.received) > 0)
            (r,) = _messages(peer)
            assert (
                isinstance(r, SipResponse) and r.status == 422 and r.headers.get("Min-SE") == "90"
            )
        finally:
            peer.close()
