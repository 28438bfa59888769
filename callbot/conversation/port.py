"""What the conversation needs from its call (CallSession implements it)."""

from __future__ import annotations

from typing import Protocol

from callbot.media.outbound import OutboundAudio
from callbot.record import CallRecord
from callbot.v1 import callbot_pb2 as pb


class CallPort(Protocol):
    """One call's outside world, as the conversation sees it."""

    record: CallRecord

    @property
    def outbound(self) -> OutboundAudio | None: ...

    @property
    def media_time_ms(self) -> int: ...

    def send(self, msg: pb.ServerMessage) -> None:
        """An event to the client stream, stamped with the media time."""

    def clear_outbound(self) -> int:
        """Drop queued bot audio (and tell a GRPC client to drop its buffer)."""

    def pause_outbound(self) -> None:
        """Stop bot audio now, keeping what the caller has not heard for `resume_outbound`."""

    def resume_outbound(self) -> None: ...

    def end(self, reason: pb.EndReason.ValueType, detail: str = "") -> None: ...

    def send_dtmf(self, digits: str) -> bool:
        """Send DTMF in-band/RFC 4733 if the transport can; False: the client must."""

    def pause_recording(self) -> None: ...

    def resume_recording(self) -> None: ...
