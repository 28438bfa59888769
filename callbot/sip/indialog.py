"""Requests within an established dialog: BYE, re-INVITE, UPDATE, INFO, NOTIFY, OPTIONS."""

from __future__ import annotations

import logging
import re

from callbot.sip import actions
from callbot.sip.dialog import ALLOW, SUPPORTED, Dialog
from callbot.sip.errors import SdpError, SipRejected
from callbot.sip.message import SipRequest, serialize
from callbot.sip.responses import response_to
from callbot.sip.sdp import Offer, parse_offer
from callbot.sip.session_timer import negotiate
from callbot.sip.timers import arm_session_timer
from callbot.sip.transactions import OkRetransmitter
from callbot.sip.transport import Peer
from callbot.sip.uas import SipUas, TxKey

log = logging.getLogger(__name__)

_DTMF_RELAY = re.compile(r"(?im)^\s*signal\s*=\s*([0-9A-D*#])\s*$")
_DTMF_DURATION = re.compile(r"(?im)^\s*duration\s*=\s*([0-9]{1,5})\s*$")
_NOT_ALLOWED = {"REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK"}


def handle(uas: SipUas, dialog: Dialog, req: SipRequest, key: TxKey, peer: Peer) -> None:
    call = dialog.call
    method = req.method
    if method == "BYE":
        uas.respond(req, key, peer, 200)
        uas.stats["bye_received"] += 1
        if call is not None:
            call.caller_hung_up()
    elif method in ("INVITE", "UPDATE"):
        _modify(uas, dialog, req, key, peer)
    elif method == "INFO":
        _info(uas, dialog, req, key, peer)
    elif method == "NOTIFY":
        uas.respond(req, key, peer, 200)
        actions.on_notify(uas, dialog, req)
    elif method == "OPTIONS":
        uas.respond(req, key, peer, 200, headers=[("Allow", ALLOW), ("Supported", SUPPORTED)])
    elif method in _NOT_ALLOWED:
        uas.respond(req, key, peer, 405, headers=[("Allow", ALLOW)])
    else:
        uas.respond(req, key, peer, 501)


def _modify(uas: SipUas, dialog: Dialog, req: SipRequest, key: TxKey, peer: Peer) -> None:
    """Re-INVITE or UPDATE: hold/resume, moved media, and session-timer refreshes."""
    s = uas.settings
    call = dialog.call
    if call is None or not dialog.answered:
        uas.respond(
            req, key, peer, 491 if req.method == "INVITE" else 500, reason="Request Pending"
        )
        return
    try:
        timer = negotiate(req.headers, s.session_expires_s, s.min_se_s)
        offer = _offer(req, s.codecs) if req.body else None
    except SipRejected as exc:
        uas.respond(req, key, peer, exc.status, reason=exc.reason, headers=exc.headers)
        return
    except SdpError as exc:
        uas.respond(req, key, peer, exc.status, headers=[("Warning", f'305 callbot "{exc}"')])
        return
    if offer is not None:
        _apply(uas, dialog, offer)
    host, port = call.local_rtp
    if offer is not None:
        body = dialog.sdp.answer(offer, host, port)
    else:
        body = dialog.sdp.last_body if req.method == "INVITE" else b""
    headers = [("Contact", uas.contact(peer.transport)), ("Allow", ALLOW), ("Supported", SUPPORTED)]
    ok = response_to(
        req,
        200,
        peer,
        body=body,
        content_type="application/sdp",
        headers=headers + timer.response_headers(),
    )
    uas.server_tx.respond(key, ok)
    uas.stats["refreshes_received"] += 1
    if req.method == "INVITE":
        if dialog.ok is not None:
            dialog.ok.stop()

        def no_ack() -> None:
            dialog.ok = None  # RFC 3261 14.2: without an ACK the dialog still stands

        dialog.ok = OkRetransmitter(
            uas.clock, uas.send, data=serialize(ok), peer=peer, on_timeout=no_ack, t1=s.t1_s
        )
        dialog.ok.start()
    arm_session_timer(uas, dialog, timer)


def _offer(req: SipRequest, codecs: tuple[object, ...]) -> Offer:
    ctype = (req.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise SdpError("the body is not application/sdp", 415)
    return parse_offer(req.body, codecs)  # type: ignore[arg-type]


def _apply(uas: SipUas, dialog: Dialog, offer: Offer) -> None:
    call = dialog.call
    assert call is not None
    previous = dialog.offer
    dialog.offer = offer
    if offer.on_hold:
        call.hold()
        uas.stats["holds"] += 1
    else:
        if (offer.host, offer.port) != (previous.host, previous.port):
            uas.spawn(call.set_remote(offer.host, offer.port))
        call.resume()


def _info(uas: SipUas, dialog: Dialog, req: SipRequest, key: TxKey, peer: Peer) -> None:
    ctype = (req.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    text = req.body.decode("utf-8", "replace")
    digit: str | None = None
    duration = 160
    if ctype == "application/dtmf-relay":
        m = _DTMF_RELAY.search(text)
        digit = m.group(1).upper() if m else None
        d = _DTMF_DURATION.search(text)
        duration = int(d.group(1)) if d else duration
    elif ctype == "application/dtmf":
        digit = text.strip().upper() if re.fullmatch(r"\s*[0-9A-Da-d*#]\s*", text) else None
    elif not req.body:
        uas.respond(req, key, peer, 200)
        return
    else:
        uas.respond(
            req, key, peer, 415, headers=[("Accept", "application/dtmf-relay, application/dtmf")]
        )
        return
    if digit is None:
        uas.respond(req, key, peer, 400, reason="Bad Request (no DTMF digit)")
        return
    uas.respond(req, key, peer, 200)
    if dialog.call is not None:
        dialog.call.dtmf(digit, min(duration, 10_000))
