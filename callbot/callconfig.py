"""A validated call configuration, independent of the wire format it came in."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from callbot.media.codec import AudioCodec, CodecName


class MediaMode(enum.Enum):
    GRPC = "grpc"
    RTP = "rtp"
    SIP = "sip"


@dataclass(frozen=True)
class CallConfig:
    call_id: str
    tenant: str
    media_mode: MediaMode
    codec: CodecName
    sample_rate: int
    packet_ms: int
    language: str
    flow: str
    l16_payload_type: int = 118
    telephone_event_payload_type: int = 101
    remote_rtp: tuple[str, int] | None = None
    caller_metadata: dict[str, str] = field(default_factory=dict)
    record: bool = False

    @property
    def frame_samples(self) -> int:
        return self.sample_rate * self.packet_ms // 1000

    def wire_codec(self, *, rtp: bool) -> AudioCodec:
        """L16 is big-endian on RTP and little-endian inside gRPC chunks."""
        return AudioCodec(self.codec, big_endian=rtp)
