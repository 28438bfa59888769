"""A new INVITE: admission, offer/answer, 100/180/200, and the call's whole life."""

from __future__ import annotations

import logging
import secrets
import uuid

from callbot.callconfig import CallConfig, MediaMode
from callbot.server.contract import ContractError
from callbot.server.sip_host import SipCall
from callbot.sip import actions
from callbot.sip.dialog import ALLOW, SUPPORTED, Dialog, new_tag
from callbot.sip.errors import SdpError, SipRejected
from callbot.sip.headers import NameAddr, parse_cseq, tokens
from callbot.sip.message import SipRequest, serialize
from callbot.sip.metadata import caller_metadata
from callbot.sip.responses import response_to
from callbot.sip.sdp import SdpSession, parse_offer
from callbot.sip.session_timer import negotiate
from callbot.sip.timers import arm_session_timer, send_bye
from callbot.sip.transactions import OkRetransmitter
from callbot.sip.transport import Peer
from callbot.sip.uas import SipUas, TxKey
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

_SUPPORTED_EXTENSIONS = {"timer", "replaces"}
_CONTRACT_STATUS = {
    pb.ERROR_CODE_RESOURCE_EXHAUSTED: (503, "Service Unavailable"),
    pb.ERROR_CODE_UNAVAILABLE: (503, "Service Unavailable"),
    pb.ERROR_CODE_UNKNOWN_FLOW: (404, "Not Found"),
}


async def handle_invite(uas: SipUas, req: SipRequest, key: TxKey, peer: Peer, branch: str) -> None:
    try:
        dialog = _admit(uas, req, key, peer)
    except SipRejected as exc:
        uas.stats[f"rejected_{exc.status}"] += 1
        uas.respond(req, key, peer, exc.status, reason=exc.reason, headers=exc.headers)
        return
    uas.pending[(branch, req.call_id)] = dialog
    uas.per_source[peer.host] += 1
    try:
        await _run_call(uas, dialog, req, key, peer)
    finally:
        uas.forget(dialog)


def _admit(uas: SipUas, req: SipRequest, key: TxKey, peer: Peer) -> Dialog:
    s = uas.settings
    if not s.allows(peer.host):
        log.warning("INVITE from a source that is not allowed")
        raise SipRejected(403, "Forbidden")
    unsupported = tokens(req.headers.get("Require")) - _SUPPORTED_EXTENSIONS
    if unsupported:
        raise SipRejected(420, "Bad Extension", [("Unsupported", ", ".join(sorted(unsupported)))])
    ctype = (req.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
    if not req.body:
        raise SipRejected(
            488, "Not Acceptable Here", [("Warning", '399 callbot "an SDP offer is required"')]
        )
    if ctype != "application/sdp":
        raise SipRejected(415, "Unsupported Media Type", [("Accept", "application/sdp")])
    try:
        offer = parse_offer(req.body, s.codecs)
    except SdpError as exc:
        log.info("SDP offer refused: %s", exc)
        raise SipRejected(
            exc.status,
            "Not Acceptable Here" if exc.status == 488 else "Bad Request",
            [("Warning", f'305 callbot "{exc}"')],
        ) from exc
    negotiate(req.headers, s.session_expires_s, s.min_se_s)  # 422 before anything is opened
    if uas.per_source[peer.host] >= s.max_calls_per_source:
        log.warning("calls-per-source limit reached")
        raise SipRejected(486, "Busy Here")
    contact = req.headers.values("Contact")
    if not contact:
        raise SipRejected(400, "Bad Request (missing Contact)")
    cseq, _ = parse_cseq(req.headers.get("CSeq") or "")
    return Dialog(
        call_id=req.call_id,
        local_tag=new_tag(),
        remote_tag=NameAddr.parse(req.headers.get("From") or "").tag,
        local_addr=req.headers.get("To") or "",
        remote_addr=req.headers.get("From") or "",
        remote_target=contact[0],
        route_set=req.headers.values("Record-Route"),
        peer=peer,
        source_host=peer.host,
        remote_cseq=cseq,
        invite_key=key,
        offer=offer,
        sdp=SdpSession(secrets.randbelow(1 << 31)),
        remote_supports_update="UPDATE" in (req.headers.get("Allow") or "").upper(),
    )


async def _run_call(uas: SipUas, dialog: Dialog, req: SipRequest, key: TxKey, peer: Peer) -> None:
    s = uas.settings
    uas.respond(req, key, peer, 100)
    offer = dialog.offer
    config = CallConfig(
        call_id="sip-" + uuid.uuid4().hex,
        tenant="sip",
        media_mode=MediaMode.SIP,
        codec=offer.codec,
        sample_rate=8000,
        packet_ms=offer.ptime,
        language=s.language,
        flow=s.flow,
        telephone_event_payload_type=offer.telephone_event_pt or 101,
        caller_metadata=caller_metadata(req),
    )
    remote = None if offer.on_hold else (offer.host, offer.port)
    try:
        call = await uas.host.open_call(config, remote)
    except ContractError as exc:
        status, reason = _CONTRACT_STATUS.get(exc.code, (500, "Server Internal Error"))
        log.warning("call refused: %s", exc.code_name)
        uas.stats[f"rejected_{status}"] += 1
        uas.respond(
            req,
            key,
            peer,
            status,
            reason=reason,
            headers=[("Retry-After", "5")] if status == 503 else None,
        )
        return
    dialog.call = call
    if offer.on_hold:
        call.hold()
    call.listeners.append(actions.listener(uas, dialog))
    try:
        await _answer(uas, dialog, req, key, peer=peer, call=call)
        ended = await call.wait_ended()
    finally:
        if not call.ended:
            call.end(pb.END_REASON_ERROR, "SIP dialog failed")
    if dialog.cancelled or not dialog.answered:
        return
    if ended != pb.END_REASON_CALLER_HANGUP:
        await send_bye(uas, dialog)


async def _answer(
    uas: SipUas, dialog: Dialog, req: SipRequest, key: TxKey, *, peer: Peer, call: SipCall
) -> None:
    s = uas.settings
    uas.respond(
        req,
        key,
        peer,
        180,
        to_tag=dialog.local_tag,
        headers=[("Contact", uas.contact(peer.transport))],
    )
    uas.dialogs[(dialog.call_id, dialog.local_tag)] = dialog
    if s.ring_ms > 0:
        await uas.clock.sleep(s.ring_ms / 1000)
    if dialog.cancelled or call.ended:
        uas.respond(req, key, peer, 487, to_tag=dialog.local_tag)
        dialog.cancelled = True
        if not call.ended:
            call.end(pb.END_REASON_CALLER_HANGUP, "CANCEL from the caller")
        return
    timer = negotiate(req.headers, s.session_expires_s, s.min_se_s)
    host, port = call.local_rtp
    body = dialog.sdp.answer(dialog.offer, host, port)
    ok = response_to(
        req,
        200,
        peer,
        to_tag=dialog.local_tag,
        body=body,
        content_type="application/sdp",
        headers=[
            ("Contact", uas.contact(peer.transport)),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
            *timer.response_headers(),
        ],
    )
    for route in req.headers.values("Record-Route"):
        ok.headers.add("Record-Route", route)
    dialog.answered = True
    uas.server_tx.respond(key, ok)
    uas.stats["answered"] += 1

    def no_ack() -> None:
        log.warning("no ACK for the 200 OK: ending the call")
        dialog.ok = None
        call.end(pb.END_REASON_PROTOCOL_ERROR, "no ACK for 200 OK")

    dialog.ok = OkRetransmitter(
        uas.clock, uas.send, data=serialize(ok), peer=peer, on_timeout=no_ack, t1=s.t1_s
    )
    dialog.ok.start()
    arm_session_timer(uas, dialog, timer)
