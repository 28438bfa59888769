"""Fuzzing the wire parsers: whatever the bytes, only ValueError may come out."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbot.media.dtmf import TelephoneEvent
from callbot.media.rtcp import parse_rtcp, serialize_rtcp
from callbot.media.rtp import RtpPacket

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rtp"
VALID_RTP = [p.read_bytes() for p in sorted(FIXTURES.glob("*_first.bin"))] + [
    bytes.fromhex("b2e5000000000064000000010000000200000003bede00011a2b3c4dffee0002000003")
]
VALID_RTCP = [p.read_bytes() for p in sorted(FIXTURES.glob("*_rtcp.bin"))]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif action == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        else:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def parse_rtp_or_value_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except ValueError:
        return
    # Whatever parses must serialize back to the same bytes (padding octets aside).
    again = packet.serialize()
    assert len(again) == len(data)
    assert again[: len(data) - packet.padding] == data[: len(data) - packet.padding]


def parse_rtcp_or_value_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except ValueError:
        return
    assert len(serialize_rtcp(packets)) == len(data)


def test_seeds_are_valid() -> None:
    for data in VALID_RTP:
        assert RtpPacket.parse(data).serialize() == data
    for data in VALID_RTCP:
        assert serialize_rtcp(parse_rtcp(data)) == data


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_rtp_random_bytes(data: bytes) -> None:
    parse_rtp_or_value_error(data)


@settings(max_examples=400, deadline=None)
@given(mutated(VALID_RTP))
def test_rtp_mutated_packets(data: bytes) -> None:
    parse_rtp_or_value_error(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_rtcp_random_bytes(data: bytes) -> None:
    parse_rtcp_or_value_error(data)


@settings(max_examples=300, deadline=None)
@given(mutated(VALID_RTCP))
def test_rtcp_mutated_packets(data: bytes) -> None:
    parse_rtcp_or_value_error(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=12))
def test_telephone_event_random_bytes(data: bytes) -> None:
    try:
        event = TelephoneEvent.parse(data)
    except ValueError:
        assert len(data) != 4
        return
    assert event.serialize() == bytes([data[0], data[1] & 0xBF, data[2], data[3]])


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_telephone_event_wrong_size(size: int) -> None:
    with pytest.raises(ValueError, match=f"{size} bytes is not 4 bytes"):
        TelephoneEvent.parse(bytes(size))
