"""Carrying out the dialogue's actions on the call, in order with the bot's speech."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from callbot.dialog import events as ev
from callbot.v1 import callbot_pb2 as pb

if TYPE_CHECKING:
    from callbot.conversation.handler import ConversationHandler

log = logging.getLogger(__name__)


def apply_output(h: ConversationHandler, o: ev.Output) -> None:
    """Everything but speech, hints and caller turns (the handler does those)."""
    if isinstance(o, ev.FlowStarted):
        h.port.record.flow_version = o.version
    elif isinstance(o, ev.RecordingControl):
        if o.paused:
            h.port.pause_recording()
        else:
            h.port.resume_recording()
    elif isinstance(o, ev.HookRequest):
        run_hook(h, o)
    elif isinstance(o, ev.SwitchLanguage):
        h.language = o.language
    elif isinstance(o, ev.Transfer | ev.Hangup | ev.SendDtmf):
        # After everything already queued has been said ("Goodbye." before the hang-up).
        if h.speaker is not None:
            h.speaker.then(lambda: _act(h, o))
        else:
            _act(h, o)


def _act(h: ConversationHandler, o: ev.Transfer | ev.Hangup | ev.SendDtmf) -> None:
    port = h.port
    if isinstance(o, ev.Transfer):
        h.record_action(o.id, "transfer", {"target": o.target, "context": dict(o.context)})
        target = h.deps.flow.transfers.get(o.target, o.target)
        transfer = pb.TransferAction(target=target, context=dict(o.context))
        port.send(pb.ServerMessage(action=pb.Action(action_id=o.id, transfer=transfer)))
    elif isinstance(o, ev.Hangup):
        h.record_action(o.id, "hangup", {"reason": o.reason})
        port.send(pb.ServerMessage(action=pb.Action(
            action_id=o.id, hangup=pb.HangupAction(reason=o.reason))))  # fmt: skip
        port.end(pb.END_REASON_BOT_HANGUP, o.reason)
    else:
        h.record_action(o.id, "send_dtmf", {"digits": len(o.digits)})
        if not port.send_dtmf(o.digits):
            dtmf = pb.SendDtmfAction(digits=o.digits, duration_ms=100)
            port.send(pb.ServerMessage(action=pb.Action(action_id=o.id, send_dtmf=dtmf)))


def run_hook(h: ConversationHandler, request: ev.HookRequest) -> None:
    """A flow hook (a Python call, an HTTP request) off the media path; its result goes back."""
    runner = h.deps.hooks
    if runner is None:
        h.apply(h.manager.handle(ev.HookResult(request.id, False, error="no runner")))
        return

    async def run() -> None:
        result = await runner.run(request)
        if not h.closed:
            h.apply(h.manager.handle(result))

    task = asyncio.get_running_loop().create_task(run(), name=f"hook-{request.hook}")
    h.hook_tasks.add(task)
    task.add_done_callback(h.hook_tasks.discard)
