"""The UAS core: routes each message to its transaction, dialog or handler."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from callbot.clock import Clock
from callbot.server.sip_host import SipCallHost
from callbot.sip.dialog import ALLOW, SUPPORTED, Dialog, contact_for
from callbot.sip.errors import SipParseError
from callbot.sip.headers import NameAddr, Via, parse_cseq
from callbot.sip.message import SipRequest, SipResponse, parse_message, serialize
from callbot.sip.responses import REASONS, best_effort_request, response_to
from callbot.sip.settings import SipSettings
from callbot.sip.transactions import ClientTransaction, ServerTransactions
from callbot.sip.transport import Peer
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

Send = Callable[[bytes, Peer], None]
TxKey = tuple[str, str, str]
_NOT_ALLOWED = {"REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK"}


class SipUas:
    """Dialogs and transactions of every SIP call; pure constructor, `close()` to end."""

    def __init__(self, host: SipCallHost, settings: SipSettings, clock: Clock, send: Send) -> None:
        self.host = host
        self.settings = settings
        self.clock = clock
        self.send = send
        self.ports: dict[str, int] = {"UDP": 0, "TCP": 0}
        self.server_tx = ServerTransactions(clock, send, settings.t1_s)
        self.dialogs: dict[tuple[str, str], Dialog] = {}
        self.pending: dict[tuple[str, str], Dialog] = {}  # (branch, Call-ID) of INVITEs
        self.per_source: Counter[str] = Counter()
        self.clients: dict[str, ClientTransaction] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stats: Counter[str] = Counter()
        self.dtmf_sender: Callable[[Any, str, int], None] | None = None

    # ------------------------------------------------------------ plumbing

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP task failed", exc_info=task.exception())

    def contact(self, transport: str) -> str:
        return contact_for(self.settings.contact_host, self.ports[transport], transport)

    def via(self, transport: str) -> tuple[str, int]:
        return self.settings.contact_host, self.ports[transport]

    def respond(self, request: SipRequest, key: TxKey, peer: Peer, status: int, **kw: Any) -> None:
        self.server_tx.respond(key, response_to(request, status, peer, **kw))

    async def request(self, dialog: Dialog, method: str, **kw: Any) -> SipResponse:
        """Send an in-dialog non-INVITE request and wait for its final response."""
        hop = dialog.next_hop()
        req = dialog.request(
            method, via=self.via(hop.transport), contact=self.contact(hop.transport), **kw
        )
        branch = Via.parse(req.headers.values("Via")[0]).branch
        tx = ClientTransaction(self.clock, self.send, req, hop, self.settings.t1_s)
        self.clients[branch] = tx
        try:
            tx.start()
            return await tx.result
        finally:
            tx.finish(SipResponse(408, "Request Timeout", req.headers))
            self.clients.pop(branch, None)

    # ------------------------------------------------------------ input

    def on_message(self, data: bytes, peer: Peer) -> None:
        self.stats["received"] += 1
        try:
            message = parse_message(data, self.settings.max_message_bytes)
        except SipParseError as exc:
            self.stats["malformed"] += 1
            log.warning("malformed SIP message: %s", exc)
            bad = best_effort_request(data)
            if bad is not None:
                self.send(serialize(response_to(bad, exc.status, peer, reason=_reason(exc))), peer)
            return
        if isinstance(message, SipResponse):
            self._on_response(message)
        else:
            self._on_request(message, peer)

    def _on_response(self, response: SipResponse) -> None:
        vias = response.headers.values("Via")
        if not vias:
            return
        try:
            branch = Via.parse(vias[0]).branch
        except SipParseError:
            return
        tx = self.clients.get(branch)
        if tx is not None:
            tx.on_response(response)

    def _on_request(self, req: SipRequest, peer: Peer) -> None:
        try:
            via = Via.parse(req.headers.values("Via")[0])
            to_tag = NameAddr.parse(req.headers.get("To") or "").tag
            NameAddr.parse(req.headers.get("From") or "")
        except (SipParseError, IndexError) as exc:
            self.send(serialize(response_to(req, 400, peer, reason=_reason(exc))), peer)
            return
        if req.method == "ACK":
            self._on_ack(req, to_tag)
            return
        key = self.server_tx.key(req, via.branch)
        if self.server_tx.seen(key):
            return
        self.server_tx.begin(key, peer)
        if req.method == "CANCEL":
            self._on_cancel(req, key, peer, via.branch)
            return
        dialog = self.dialogs.get((req.call_id, to_tag)) if to_tag else None
        if to_tag and dialog is None and req.method != "OPTIONS":
            self.respond(req, key, peer, 481)
            return
        if dialog is not None:
            self._in_dialog(dialog, req, key, peer)
        elif req.method == "INVITE":
            from callbot.sip.invite import handle_invite

            self.spawn(handle_invite(self, req, key, peer, via.branch))
        elif req.method == "OPTIONS":
            self.respond(req, key, peer, 200, headers=_capabilities())
        elif req.method in ("BYE", "INFO", "UPDATE", "NOTIFY"):
            self.respond(req, key, peer, 481)
        elif req.method in _NOT_ALLOWED:
            self.respond(req, key, peer, 405, headers=[("Allow", ALLOW)])
        else:
            self.respond(req, key, peer, 501)

    def _on_ack(self, req: SipRequest, to_tag: str) -> None:
        dialog = self.dialogs.get((req.call_id, to_tag))
        if dialog is None:
            return  # an ACK for a non-2xx final response: its transaction absorbs it
        if dialog.ok is not None:
            dialog.ok.stop()
            dialog.ok = None
        dialog.confirmed = True

    def _on_cancel(self, req: SipRequest, key: TxKey, peer: Peer, branch: str) -> None:
        dialog = self.pending.get((branch, req.call_id))
        if dialog is None:
            self.respond(req, key, peer, 481)
            return
        self.respond(req, key, peer, 200, to_tag=dialog.local_tag)
        if not dialog.answered:
            dialog.cancelled = True
            if dialog.call is not None:
                dialog.call.end(pb.END_REASON_CALLER_HANGUP, "CANCEL from the caller")

    def _in_dialog(self, dialog: Dialog, req: SipRequest, key: TxKey, peer: Peer) -> None:
        from callbot.sip import indialog

        cseq, _ = parse_cseq(req.headers.get("CSeq") or "")
        if req.method not in ("OPTIONS",) and cseq <= dialog.remote_cseq and req.method != "NOTIFY":
            self.respond(req, key, peer, 500, reason="CSeq Out of Order")
            return
        dialog.remote_cseq = max(dialog.remote_cseq, cseq)
        indialog.handle(self, dialog, req, key, peer)

    # ------------------------------------------------------------ lifecycle

    def forget(self, dialog: Dialog) -> None:
        """Drop a finished dialog and everything it holds."""
        dialog.terminated = True
        if dialog.ok is not None:
            dialog.ok.stop()
            dialog.ok = None
        if dialog.session_timer is not None:
            dialog.session_timer.cancel()
            dialog.session_timer = None
        self.dialogs.pop((dialog.call_id, dialog.local_tag), None)
        self.pending = {k: v for k, v in self.pending.items() if v is not dialog}
        self.per_source[dialog.source_host] -= 1
        if self.per_source[dialog.source_host] <= 0:
            del self.per_source[dialog.source_host]

    async def close(self) -> None:
        for dialog in list(self.dialogs.values()) + list(self.pending.values()):
            if dialog.call is not None:
                dialog.call.end(pb.END_REASON_SERVER_SHUTDOWN, "SIP service stopped")
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=5)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        for tx in list(self.clients.values()):
            tx.finish(SipResponse(503, "Service Unavailable", tx_headers()))
        self.server_tx.close()


def _capabilities() -> list[tuple[str, str]]:
    return [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED)]


def _reason(exc: Exception) -> str:
    """A reason phrase that names the defect (no CR/LF, bounded)."""
    text = "".join(ch for ch in str(exc) if ch.isprintable())[:120]
    status = getattr(exc, "status", 400)
    base = REASONS.get(status, "Bad Request")
    return f"{base} ({text})" if text else base


def tx_headers() -> Any:
    from callbot.sip.message import Headers

    return Headers()
