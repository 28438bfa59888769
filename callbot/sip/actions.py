"""Flow and controller actions on a SIP call: blind transfer (REFER), hangup, DTMF."""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable

from callbot.server.sip_host import SipCall
from callbot.sip.dialog import Dialog
from callbot.sip.message import SipRequest
from callbot.sip.uas import SipUas
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

DtmfSender = Callable[[SipCall, str, int], None]
_HEADER_KEY = re.compile(r"[^A-Za-z0-9-]")
_SIPFRAG = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2})")
_MAX_CONTEXT = 16
_MAX_VALUE = 256


def listener(uas: SipUas, dialog: Dialog) -> Callable[[pb.ServerMessage], None]:
    def on_message(msg: pb.ServerMessage) -> None:
        if msg.WhichOneof("message") != "action" or dialog.call is None:
            return
        action = msg.action
        kind = action.WhichOneof("action")
        if kind == "hangup":
            dialog.call.end(pb.END_REASON_BOT_HANGUP, action.hangup.reason[:200] or "bot hung up")
        elif kind == "transfer":
            start_transfer(uas, dialog, action.transfer)
        elif kind == "send_dtmf":
            sender = getattr(uas, "dtmf_sender", None)
            if sender is None:
                log.warning("send_dtmf: no RFC 4733 sender is wired to the RTP endpoint")
                return
            sender(dialog.call, action.send_dtmf.digits, action.send_dtmf.duration_ms or 100)

    return on_message


def start_transfer(uas: SipUas, dialog: Dialog, transfer: pb.TransferAction) -> None:
    """A blind REFER (RFC 3515) to an allowlisted target only (toll fraud otherwise)."""
    uri = uas.settings.transfer_uri(transfer.target)
    if uri is None:
        uas.stats["transfer_refused"] += 1
        log.warning("transfer refused: the target is not in sip_transfer_targets")
        return
    if dialog.transfer_pending or not dialog.answered:
        log.warning("transfer refused: another transfer is pending or the call is not up")
        return
    dialog.transfer_pending = True
    call_id = dialog.call.call_id if dialog.call is not None else ""
    headers = context_headers(call_id, dict(transfer.context))
    uas.spawn(_refer(uas, dialog, uri, headers))


def context_headers(call_id: str, context: dict[str, str]) -> list[tuple[str, str]]:
    """The call context as X-Callbot-* headers, and User-to-User (hex) when given."""
    out = [("X-Callbot-Call-Id", call_id)]
    for key, value in sorted(context.items())[:_MAX_CONTEXT]:
        clean = "".join(ch for ch in value if ch.isprintable())[:_MAX_VALUE]
        if key.lower() in ("user_to_user", "user-to-user", "uui"):
            out.append(("User-to-User", clean.encode().hex() + ";encoding=hex"))
        else:
            out.append(("X-Callbot-" + _HEADER_KEY.sub("-", key)[:64], clean))
    return out


def refer_to(uri: str, headers: list[tuple[str, str]]) -> str:
    """Refer-To with the context as URI headers, so the new INVITE carries it (RFC 3261 19.1.1)."""
    query = "&".join(f"{name}={urllib.parse.quote(value, safe='')}" for name, value in headers)
    sep = "&" if "?" in uri else "?"
    return f"<{uri}{sep}{query}>"


async def _refer(uas: SipUas, dialog: Dialog, uri: str, headers: list[tuple[str, str]]) -> None:
    uas.stats["refer_sent"] += 1
    response = await uas.request(
        dialog,
        "REFER",
        headers=[
            ("Refer-To", refer_to(uri, headers)),
            ("Referred-By", f"<sip:callbot@{uas.settings.contact_host}>"),
            *headers,
        ],
    )
    if response.status >= 300:
        dialog.transfer_pending = False
        uas.stats["transfer_failed"] += 1
        log.warning("REFER refused with %d", response.status)


def on_notify(uas: SipUas, dialog: Dialog, req: SipRequest) -> None:
    """The transferee's progress (message/sipfrag): a final 2xx ends our side of the call."""
    if not dialog.transfer_pending or not (req.headers.get("Event") or "").lower().startswith(
        "refer"
    ):
        return
    m = _SIPFRAG.match(req.body.decode("utf-8", "replace"))
    if m is None:
        return
    status = int(m.group(1))
    if status < 200:
        return
    dialog.transfer_pending = False
    if status < 300 and dialog.call is not None:
        uas.stats["transferred"] += 1
        dialog.call.end(pb.END_REASON_TRANSFERRED, "blind transfer accepted")
    else:
        uas.stats["transfer_failed"] += 1
        log.warning("transfer failed with %d", status)
