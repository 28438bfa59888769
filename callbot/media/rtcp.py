"""RTCP compound packets (RFC 3550 section 6): headers walked with length checks.

Only the common header and sender SSRC are decoded; the rest is kept as bytes so
RTCP on an rtcp-mux port is recognised and counted, never played as audio.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from callbot.media.rtp import RTCP_TYPE_MAX, RTCP_TYPE_MIN, RTP_VERSION

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")


class RtcpType(enum.IntEnum):
    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204
    RTPFB = 205
    PSFB = 206
    XR = 207


@dataclass(frozen=True)
class RtcpPacket:
    """One packet of a compound; `ssrc` is None when the packet is header-only."""

    packet_type: int
    count: int = 0
    ssrc: int | None = None
    body: bytes = b""
    padding: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.packet_type <= 255:
            raise ValueError(f"RTCP packet type {self.packet_type} is not 8-bit")
        if not 0 <= self.count <= 31:
            raise ValueError(f"RTCP count {self.count} is not in 0-31")
        if self.ssrc is None and self.body:
            raise ValueError("an RTCP packet with a body needs an SSRC")
        if self.ssrc is not None and not 0 <= self.ssrc <= 0xFFFF_FFFF:
            raise ValueError(f"SSRC {self.ssrc} is not 32-bit")
        if not 0 <= self.padding <= 255:
            raise ValueError(f"padding of {self.padding} bytes is not in 0-255")
        if (len(self.body) + self.padding) % 4:
            raise ValueError(
                f"RTCP body of {len(self.body)} bytes plus {self.padding} pad bytes "
                "is not whole words"
            )
        if self.size // 4 - 1 > 0xFFFF:
            raise ValueError(f"RTCP packet of {self.size} bytes is too long")

    @property
    def size(self) -> int:
        """Bytes on the wire, padding included."""
        return 4 + (0 if self.ssrc is None else 4) + len(self.body) + self.padding

    def serialize(self) -> bytes:
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | self.count
        parts = [_HEADER.pack(first, self.packet_type, self.size // 4 - 1)]
        if self.ssrc is not None:
            parts.append(_SSRC.pack(self.ssrc))
        parts.append(self.body)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Walk a compound RTCP datagram; raise ValueError on anything malformed."""
    size = len(data)
    if size < 4:
        raise ValueError(f"RTCP datagram of {size} bytes is shorter than a 4-byte header")
    if not RTCP_TYPE_MIN <= data[1] <= RTCP_TYPE_MAX:
        raise ValueError(f"first RTCP packet type {data[1]} is not in 192-223")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < size:
        if pos + 4 > size:
            raise ValueError(f"RTCP header at byte {pos} needs 4 bytes, {size - pos} left")
        first, packet_type, words = _HEADER.unpack_from(data, pos)
        if first >> 6 != RTP_VERSION:
            raise ValueError(f"RTCP version {first >> 6} at byte {pos} is not 2")
        length = 4 * (words + 1)
        end = pos + length
        if end > size:
            raise ValueError(f"RTCP packet at byte {pos} claims {length} bytes, {size - pos} left")
        padding = 0
        if first & 0x20:
            # RFC 3550 A.2: only the last packet of a compound may be padded.
            if end != size:
                raise ValueError(f"RTCP packet at byte {pos} is padded but not last")
            padding = data[end - 1]
            if padding == 0 or padding > length - 4:
                raise ValueError(f"RTCP pad count {padding} does not fit a {length}-byte packet")
        body_end = end - padding
        ssrc = None
        body = b""
        if body_end - pos >= 8:
            (ssrc,) = _SSRC.unpack_from(data, pos + 4)
            body = bytes(data[pos + 8 : body_end])
        elif body_end - pos != 4:
            raise ValueError(
                f"RTCP packet at byte {pos} has a {body_end - pos - 4}-byte partial SSRC"
            )
        packets.append(RtcpPacket(packet_type, first & 0x1F, ssrc, body, padding))
        pos = end
    return packets


def serialize_rtcp(packets: list[RtcpPacket]) -> bytes:
    """A compound datagram from its packets."""
    if any(p.padding for p in packets[:-1]):
        raise ValueError("only the last packet of an RTCP compound may be padded")
    return b"".join(p.serialize() for p in packets)
