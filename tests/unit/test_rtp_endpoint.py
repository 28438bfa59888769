"""The RTP endpoint's rules on a virtual clock: latching, flood cap, outbound numbering."""

from __future__ import annotations

import itertools

import numpy as np

from callbot.clock import VirtualClock
from callbot.media import g711
from callbot.media.codec import AudioCodec, CodecName
from callbot.media.outbound import OutFrame
from callbot.media.pacer import Pacer
from callbot.media.rtp import RtpPacket
from callbot.media.rtp_endpoint import RtpOptions, RtpStream

PEER = ("127.0.0.1", 4000)
FRAME = np.zeros(160, dtype=np.int16)


class _Transport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def close(self) -> None:
        pass


def _stream(
    clock: VirtualClock, remote: tuple[str, int] | None = None, **opts: float
) -> tuple[RtpStream, _Transport, list[np.ndarray], list[RtpPacket]]:
    heard: list[np.ndarray] = []
    dtmf: list[RtpPacket] = []
    stream = RtpStream(
        clock=clock,
        pacer=Pacer(clock),
        codec=AudioCodec(CodecName.PCMU, big_endian=True),
        options=RtpOptions(
            payload_type=0,
            telephone_event_pt=101,
            sample_rate=8000,
            packet_ms=20,
            **opts,  # type: ignore[arg-type]
        ),
        on_audio=heard.append,
        on_packet=lambda: None,
        on_dtmf_packet=dtmf.append,
        remote=remote,
    )
    transport = _Transport()
    stream.attach(transport, transport)  # type: ignore[arg-type]
    return stream, transport, heard, dtmf


def _pkt(seq: int, ssrc: int = 1, pt: int = 0, payload: bytes | None = None) -> bytes:
    body = g711.ulaw_encode(FRAME) if payload is None else payload
    return RtpPacket(pt, seq, 160 * seq, ssrc, body).serialize()


def test_latches_to_the_first_source_and_drops_others() -> None:
    clock = VirtualClock()
    stream, _, _, _ = _stream(clock)
    stream.datagram(_pkt(0), PEER)
    stream.datagram(_pkt(1), ("127.0.0.1", 4002))
    stream.datagram(_pkt(1), ("10.0.0.9", 4000))
    assert stream.remote == PEER
    assert (stream.counters.packets_in, stream.counters.foreign_drops) == (1, 2)


def test_a_given_remote_is_the_only_accepted_source_until_updated() -> None:
    clock = VirtualClock()
    stream, _transport, _, _ = _stream(clock, remote=("127.0.0.1", 5000))
    stream.datagram(_pkt(0), PEER)
    assert stream.counters.foreign_drops == 1
    stream.set_remote(PEER)
    stream.datagram(_pkt(1), PEER)
    assert stream.counters.packets_in == 1


def test_payload_types_route_to_audio_dtmf_or_are_counted() -> None:
    clock = VirtualClock()
    stream, _, heard, dtmf = _stream(clock)
    stream.datagram(_pkt(0), PEER)
    stream.datagram(_pkt(1, pt=101, payload=b"\x05\x0a\x00\xa0"), PEER)
    stream.datagram(_pkt(2, pt=18), PEER)  # G.729 was not negotiated
    stream.datagram(b"\x81\xc8\x00\x01\x00\x00\x00\x01", PEER)  # rtcp-mux SR header
    clock.advance(0.2)
    assert len(dtmf) == 1 and dtmf[0].payload_type == 101
    assert stream.counters.wrong_payload_type == 1
    assert stream.counters.rtcp_in == 1
    assert len(heard) >= 5  # playout ticks every 20 ms once media started


def test_flood_is_capped_and_counted() -> None:
    clock = VirtualClock()
    stream, _, _, _ = _stream(clock, max_packets_per_s=100, flood_burst=10)
    for i in range(1000):
        stream.datagram(_pkt(i), PEER)
    assert stream.counters.flood_drops == 990
    assert stream.counters.packets_in == 10


def test_outbound_numbering_marker_and_timestamps_across_silence() -> None:
    clock = VirtualClock()
    stream, transport, _, _ = _stream(clock, remote=PEER)
    frame = OutFrame(g711.ulaw_encode(FRAME), FRAME, "", 0)
    for _ in range(3):
        stream.send_frame(frame)
        clock.advance(0.02)
    clock.advance(1.0)  # the bot said nothing for a second
    stream.send_frame(frame)
    packets = [RtpPacket.parse(d) for d, _ in transport.sent]
    assert [p.marker for p in packets] == [True, False, False, True]
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
    ts = [p.timestamp for p in packets]
    assert (ts[1] - ts[0]) % 2**32 == 160
    assert (ts[3] - ts[2]) % 2**32 == 160 * 51  # real time kept across the gap
    assert len({p.ssrc for p in packets}) == 1


def test_nothing_is_sent_before_the_remote_is_known() -> None:
    clock = VirtualClock()
    stream, transport, _, _ = _stream(clock)
    stream.send_frame(OutFrame(g711.ulaw_encode(FRAME), FRAME, "", 0))
    assert not transport.sent and stream.counters.no_remote_drops == 1


def test_send_dtmf_is_rfc4733_a_receiver_understands() -> None:
    from callbot.media.dtmf import DtmfReceiver

    clock = VirtualClock()
    stream, transport, _, _ = _stream(clock, remote=PEER)
    took = stream.send_dtmf("12#", duration_ms=100, gap_ms=80)
    clock.advance(took + 0.1)
    packets = [RtpPacket.parse(d) for d, _ in transport.sent]
    assert {p.payload_type for p in packets} == {101}
    seqs = [p.sequence_number for p in packets]
    assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
    receiver = DtmfReceiver()
    digits = [d for p in packets for d in receiver.push(p.timestamp, p.payload, clock.now())]
    assert [d.digit for d in digits] == ["1", "2", "#"]
    assert all(d.duration == 800 for d in digits)
    assert [p.marker for p in packets].count(True) == 3
