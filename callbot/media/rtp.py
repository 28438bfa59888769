"""RTP packets (RFC 3550): parse, serialize, and sequence/timestamp arithmetic."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
HEADER_SIZE = 12
MAX_CSRC = 15
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

# RFC 5761 section 4: with rtcp-mux, a second octet of 192-223 is RTCP (SR=200 ...
# APP=204, feedback 205/206, XR 207); RTP must then avoid PT 64-95 with the marker.
RTCP_TYPE_MIN = 192
RTCP_TYPE_MAX = 223

_HEADER = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")
# Version 2, no padding, no extension, no CSRC: the header of nearly every packet.
_PLAIN_FIRST_OCTET = RTP_VERSION << 6


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b between 16-bit sequence numbers, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_add(seq: int, n: int) -> int:
    """The 16-bit sequence number n after seq (n may be negative)."""
    return (seq + n) & 0xFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed distance a - b between 32-bit RTP timestamps."""
    return ((a - b + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


def ts_add(ts: int, n: int) -> int:
    """The 32-bit RTP timestamp n units after ts (n may be negative)."""
    return (ts + n) & 0xFFFF_FFFF


def is_rtcp(data: bytes) -> bool:
    """True when a datagram on an rtcp-mux port is RTCP rather than RTP (RFC 5761)."""
    return (
        len(data) >= 2 and data[0] >> 6 == RTP_VERSION and RTCP_TYPE_MIN <= data[1] <= RTCP_TYPE_MAX
    )


@dataclass(frozen=True)
class RtpExtension:
    """The one header extension an RTP packet may carry (RFC 3550 section 5.3.1)."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise ValueError(f"extension profile {self.profile} does not fit in 16 bits")
        if len(self.data) % 4:
            raise ValueError(f"extension data of {len(self.data)} bytes is not whole words")
        if len(self.data) // 4 > 0xFFFF:
            raise ValueError(f"extension data of {len(self.data)} bytes is too long")


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet; `padding` is the pad count (0 = no padding), kept for round trips."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = field(default=0)

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= 127:
            raise ValueError(f"payload type {self.payload_type} is not in 0-127")
        if self.marker and RTCP_TYPE_MIN <= 0x80 | self.payload_type <= RTCP_TYPE_MAX:
            raise ValueError(
                f"payload type {self.payload_type} with the marker set reads as RTCP (RFC 5761)"
            )
        if not 0 <= self.sequence_number < SEQ_MOD:
            raise ValueError(f"sequence number {self.sequence_number} is not 16-bit")
        if not 0 <= self.timestamp < TS_MOD:
            raise ValueError(f"timestamp {self.timestamp} is not 32-bit")
        if not 0 <= self.ssrc < TS_MOD:
            raise ValueError(f"SSRC {self.ssrc} is not 32-bit")
        if len(self.csrc) > MAX_CSRC:
            raise ValueError(f"{len(self.csrc)} CSRCs exceed the maximum of {MAX_CSRC}")
        for source in self.csrc:
            if not 0 <= source < TS_MOD:
                raise ValueError(f"CSRC {source} is not 32-bit")
        if not 0 <= self.padding <= 255:
            raise ValueError(f"padding of {self.padding} bytes is not in 0-255")

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP datagram; raise ValueError on anything malformed."""
        if len(data) >= HEADER_SIZE and data[0] == _PLAIN_FIRST_OCTET:
            # Fast path for every audio packet of a call: a bare 12-byte header.
            _, second, seq, timestamp, ssrc = _HEADER.unpack_from(data, 0)
            if RTCP_TYPE_MIN <= second <= RTCP_TYPE_MAX:
                raise ValueError(f"second octet {second} is an RTCP packet type, not RTP")
            # Every field is in range by construction (the one combination that
            # __post_init__ could reject, a marker that reads as RTCP, was just
            # refused), so its checks and the frozen setattr are skipped.
            packet = object.__new__(cls)
            packet.__dict__.update(
                payload_type=second & 0x7F,
                sequence_number=seq,
                timestamp=timestamp,
                ssrc=ssrc,
                payload=bytes(data[HEADER_SIZE:]),
                marker=bool(second & 0x80),
                csrc=(),
                extension=None,
                padding=0,
            )
            return packet
        return cls.parse_general(data)

    @classmethod
    def parse_general(cls, data: bytes) -> RtpPacket:
        """`parse` for any header: padding, CSRCs, an extension (also the reference
        the fast path is tested against)."""
        size = len(data)
        if size < HEADER_SIZE:
            raise ValueError(f"RTP packet of {size} bytes is shorter than the 12-byte header")
        first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data, 0)
        version = first >> 6
        if version != RTP_VERSION:
            raise ValueError(f"RTP version {version} is not 2")
        if RTCP_TYPE_MIN <= second <= RTCP_TYPE_MAX:
            raise ValueError(f"second octet {second} is an RTCP packet type, not RTP")
        has_padding = bool(first & 0x20)
        has_extension = bool(first & 0x10)
        csrc_count = first & 0x0F

        end = size
        padding = 0
        if has_padding:
            padding = data[-1]
            if padding == 0:
                raise ValueError("RTP padding bit set but the pad count is 0")
            end = size - padding
            if end < HEADER_SIZE:
                raise ValueError(
                    f"RTP pad count {padding} exceeds the "
                    f"{size - HEADER_SIZE} bytes after the header"
                )

        pos = HEADER_SIZE
        csrc_end = pos + 4 * csrc_count
        if csrc_end > end:
            raise ValueError(
                f"{csrc_count} CSRCs need {csrc_end} bytes, packet has {end} before padding"
            )
        csrc = struct.unpack_from(f"!{csrc_count}I", data, pos)
        pos = csrc_end

        extension = None
        if has_extension:
            if pos + 4 > end:
                raise ValueError(
                    f"RTP extension header needs {pos + 4} bytes, packet has {end} before padding"
                )
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            pos += 4
            if pos + 4 * words > end:
                raise ValueError(
                    f"RTP extension of {words} words needs {pos + 4 * words} bytes, "
                    f"packet has {end} before padding"
                )
            extension = RtpExtension(profile, bytes(data[pos : pos + 4 * words]))
            pos += 4 * words

        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[pos:end]),
            marker=bool(second & 0x80),
            csrc=tuple(csrc),
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        """The packet on the wire; pad octets before the count are zero."""
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [
            _HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc),
            struct.pack(f"!{len(self.csrc)}I", *self.csrc),
        ]
        if self.extension is not None:
            ext = self.extension
            parts.append(_EXT_HEADER.pack(ext.profile, len(ext.data) // 4))
            parts.append(ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)
