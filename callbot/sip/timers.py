"""Dialog timers the bot runs itself: session refresh/expiry and the BYE it sends."""

from __future__ import annotations

import logging

from callbot.sip.dialog import Dialog
from callbot.sip.session_timer import SessionTimer
from callbot.sip.uas import SipUas
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)


def arm_session_timer(uas: SipUas, dialog: Dialog, timer: SessionTimer) -> None:
    """(Re)start the RFC 4028 timer: refresh it ourselves or expect the caller to."""
    if dialog.session_timer is not None:
        dialog.session_timer.cancel()
        dialog.session_timer = None
    dialog.session_expires = timer.expires
    dialog.refresher = timer.refresher
    if not timer.expires or dialog.terminated:
        return
    when = uas.clock.now() + timer.deadline()

    def fire() -> None:
        dialog.session_timer = None
        if dialog.terminated or dialog.call is None or dialog.call.ended:
            return
        if timer.refresher == "uas":
            uas.spawn(_refresh(uas, dialog, timer))
        else:
            log.warning("session timer expired without a refresh: ending the call")
            uas.stats["session_expired"] += 1
            dialog.call.end(pb.END_REASON_PROTOCOL_ERROR, "session timer expired")

    dialog.session_timer = uas.clock.call_at(when, fire)


async def _refresh(uas: SipUas, dialog: Dialog, timer: SessionTimer) -> None:
    """The bot is the refresher: an UPDATE without SDP (RFC 4028 9 allows it)."""
    response = await uas.request(
        dialog,
        "UPDATE",
        headers=[
            ("Session-Expires", f"{timer.expires};refresher=uas"),
            ("Supported", "timer"),
        ],
    )
    if 200 <= response.status < 300:
        uas.stats["refreshes_sent"] += 1
        arm_session_timer(uas, dialog, timer)
    elif dialog.call is not None:
        log.warning("session refresh failed (%d): ending the call", response.status)
        dialog.call.end(pb.END_REASON_PROTOCOL_ERROR, f"session refresh failed ({response.status})")


async def send_bye(uas: SipUas, dialog: Dialog) -> None:
    if dialog.ok is not None:
        # RFC 3261 15: BYE before the ACK is allowed once the 2xx went out; stop resending it.
        dialog.ok.stop()
        dialog.ok = None
    response = await uas.request(dialog, "BYE")
    uas.stats["bye_sent"] += 1
    if response.status >= 300:
        log.info("BYE answered %d", response.status)
