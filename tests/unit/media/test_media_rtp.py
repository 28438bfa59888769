"""RTP and RTCP wire formats: recorded ffmpeg packets and hand-built edge cases."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callbot.media.codec import AudioCodec, CodecName
from callbot.media.rtcp import RtcpPacket, RtcpType, parse_rtcp, serialize_rtcp
from callbot.media.rtp import (
    RtpExtension,
    RtpPacket,
    is_rtcp,
    seq_add,
    seq_diff,
    ts_add,
    ts_diff,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rtp"
RECORDED = sorted(FIXTURES.glob("*_first.bin")) + sorted(FIXTURES.glob("*_mid.bin"))


def read_stream(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    packets, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("!H", data, pos)
        packets.append(data[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return packets


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_packet_round_trips(path: Path) -> None:
    data = path.read_bytes()
    packet = RtpPacket.parse(data)
    assert packet.serialize() == data
    assert not is_rtcp(data)
    codec = path.name.split("_")[0]
    expected_pt, samples = {"pcmu": (0, 160), "pcma": (8, 160), "l16": (97, 320)}[codec]
    assert packet.payload_type == expected_pt
    assert len(packet.payload) == samples * (2 if codec == "l16" else 1)
    assert packet.csrc == () and packet.extension is None and packet.padding == 0


def test_recorded_stream_is_one_contiguous_source() -> None:
    packets = [RtpPacket.parse(p) for p in read_stream("pcmu_stream.bin")]
    assert len(packets) == 50
    raws = read_stream("pcmu_stream.bin")
    assert all(p.serialize() == raw for p, raw in zip(packets, raws, strict=True))
    assert len({p.ssrc for p in packets}) == 1
    for a, b in itertools.pairwise(packets):
        assert seq_diff(b.sequence_number, a.sequence_number) == 1
        assert ts_diff(b.timestamp, a.timestamp) == 160
    pcm = AudioCodec(CodecName.PCMU).decode(b"".join(p.payload for p in packets))
    assert int(abs(pcm.astype(int)).max()) > 1000  # real speech, not silence


@pytest.mark.parametrize("codec", ["pcmu", "pcma", "l16"])
def test_recorded_rtcp_sender_report(codec: str) -> None:
    data = (FIXTURES / f"{codec}_rtcp.bin").read_bytes()
    assert is_rtcp(data)
    with pytest.raises(ValueError, match="RTCP"):
        RtpPacket.parse(data)
    packets = parse_rtcp(data)
    assert packets[0].packet_type == RtcpType.SR
    assert len(packets[0].body) >= 20  # NTP, RTP timestamp, packet and octet counts
    media_ssrc = RtpPacket.parse((FIXTURES / f"{codec}_first.bin").read_bytes()).ssrc
    assert packets[0].ssrc == media_ssrc
    assert serialize_rtcp(packets) == data


def test_hand_built_packet_with_everything() -> None:
    packet = RtpPacket(
        payload_type=101,
        sequence_number=65535,
        timestamp=0xFFFF_FFFF,
        ssrc=0xDEADBEEF,
        payload=b"\x05\x0a\x01\x90",
        marker=True,
        csrc=(1, 2, 0xFFFF_FFFF),
        extension=RtpExtension(0xBEDE, b"\x10\xff\x00\x00"),
        padding=4,
    )
    data = packet.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 101
    assert len(data) == 12 + 12 + 4 + 4 + 4 + 4
    assert data[-1] == 4 and data[-4:-1] == b"\0\0\0"
    assert RtpPacket.parse(data) == packet


def test_padding_is_stripped_from_payload() -> None:
    header = bytes([0xA0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3])
    packet = RtpPacket.parse(header + b"abc" + b"\0\0\x03")
    assert packet.payload == b"abc" and packet.padding == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00\x00", "shorter than the 12-byte header"),
        (bytes([0x40]) + bytes(11), "version 1 is not 2"),
        (bytes([0xA0]) + bytes(10) + b"\x00", "pad count is 0"),
        (bytes([0xA0]) + bytes(10) + b"\x10", "pad count 16 exceeds"),
        (bytes([0x82]) + bytes(11) + bytes(4), "2 CSRCs need 20 bytes"),
        (bytes([0x90]) + bytes(11) + b"\0\0", "extension header needs 16 bytes"),
        (bytes([0x90]) + bytes(11) + b"\0\0\0\x02" + bytes(4), "extension of 2 words"),
        (bytes([0x80, 200]) + bytes(10), "RTCP packet type"),
    ],
)
def test_malformed_rtp_is_rejected_precisely(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RtpPacket.parse(data)


def test_invalid_fields_are_rejected() -> None:
    with pytest.raises(ValueError):
        RtpPacket(128, 0, 0, 0)
    with pytest.raises(ValueError):
        RtpPacket(0, 65536, 0, 0)
    with pytest.raises(ValueError):
        RtpPacket(72, 0, 0, 0, marker=True)  # would read as RTCP SR
    with pytest.raises(ValueError):
        RtpPacket(0, 0, 0, 0, csrc=tuple(range(16)))
    with pytest.raises(ValueError):
        RtpExtension(1, b"abc")


def test_wrap_around_arithmetic() -> None:
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_diff(100, 50) == 50
    assert seq_add(65535, 2) == 1
    assert seq_add(0, -1) == 65535
    assert ts_diff(5, 0xFFFF_FFF0) == 21
    assert ts_diff(0xFFFF_FFF0, 5) == -21
    assert ts_add(0xFFFF_FF00, 0x200) == 0x100


def test_is_rtcp_on_mux_boundaries() -> None:
    assert is_rtcp(bytes([0x80, 200, 0, 6]))
    assert is_rtcp(bytes([0x81, 205, 0, 2]))
    assert not is_rtcp(bytes([0x80, 0x80 | 0]))  # PCMU with marker
    assert not is_rtcp(bytes([0x80, 101]))
    assert not is_rtcp(bytes([0x40, 200]))
    assert not is_rtcp(b"\x80")


def test_rtcp_compound_with_padding_and_bye() -> None:
    rr = RtcpPacket(RtcpType.RR, 0, 0x1234)
    bye = RtcpPacket(RtcpType.BYE, 1, 0x1234, b"\x03bye", padding=4)
    data = serialize_rtcp([rr, bye])
    assert len(data) == 8 + 16
    assert parse_rtcp(data) == [rr, bye]
    empty_bye = RtcpPacket(RtcpType.BYE, 0)
    assert parse_rtcp(empty_bye.serialize()) == [empty_bye]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\xc8\x00", "shorter than a 4-byte header"),
        (b"\x80\x00\x00\x00", "not in 192-223"),
        (b"\x80\xc9\x00\x02" + bytes(4), "claims 12 bytes, 8 left"),
        (b"\x80\xc9\x00\x01" + bytes(4) + b"\x40\xc9\x00\x00", "version 1"),
        (b"\xa0\xc9\x00\x01" + bytes(4) + b"\x80\xc9\x00\x00", "padded but not last"),
        (b"\xa0\xc9\x00\x01" + bytes(3) + b"\x09", "pad count 9"),
        (b"\x80\xc9\x00\x01" + bytes(4) + b"\x80\xc9", "needs 4 bytes, 2 left"),
    ],
)
def test_malformed_rtcp_is_rejected_precisely(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rtcp(data)


def _parse_outcome(parse: Callable[[bytes], RtpPacket], data: bytes) -> RtpPacket | str:
    try:
        return parse(data)
    except ValueError as exc:
        return f"ValueError: {exc}"


@given(
    st.one_of(
        st.integers(0, 255),  # any first octet: most take the general path
        st.just(0x80),  # version 2, no padding, extension or CSRC: the fast path
    ),
    st.integers(0, 255),
    st.binary(max_size=200),
)
def test_fast_parse_equals_general_parse(first: int, second: int, rest: bytes) -> None:
    """The bare-header fast path gives the same packet, or the same error, as the full parser."""
    data = bytes((first, second)) + rest
    fast = _parse_outcome(RtpPacket.parse, data)
    general = _parse_outcome(RtpPacket.parse_general, data)
    assert fast == general
    if isinstance(fast, RtpPacket) and first == 0x80:
        assert fast.serialize() == data
        assert fast == RtpPacket(
            fast.payload_type,
            fast.sequence_number,
            fast.timestamp,
            fast.ssrc,
            fast.payload,
            fast.marker,
            fast.csrc,
            fast.extension,
            fast.padding,
        )
