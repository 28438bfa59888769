"""Jitter buffer on simulated calls driven by a virtual clock."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callbot.media.codec import AudioCodec, CodecName
from callbot.media.g711 import Pcm
from callbot.media.jitter import Frame, FrameKind, JitterBuffer, PushResult
from callbot.media.rtp import RtpPacket, ts_diff

RATE = 8000
FRAME = 160
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "rtp"


def source(ts: int, n: int) -> Pcm:
    """The sender's signal: each sample tells its own RTP timestamp (mod 2**16)."""
    values: Pcm = ((np.arange(ts, ts + n, dtype=np.int64) & 0xFFFF) - 32768).astype(np.int16)
    return values


def tone(ts: int, n: int) -> Pcm:
    t = np.arange(ts, ts + n, dtype=np.float64)
    values: Pcm = np.rint(8000 * np.sin(2 * np.pi * 440 * t / RATE)).astype(np.int16)
    return values


@dataclass
class Call:
    """A scripted call: which packets are sent, when they arrive, and the pops."""

    packet_ms: int = 20
    seconds: float = 10.0
    ppm: float = 0.0  # sender clock error
    jitter_ms: float = 0.0
    seq0: int = 1000
    ts0: int = 5000
    drop: set[int] = field(default_factory=set)
    dups: set[int] = field(default_factory=set)
    delay: dict[int, float] = field(default_factory=dict)  # extra delay, seconds
    seed: int = 0

    @property
    def dur(self) -> int:
        return RATE * self.packet_ms // 1000

    @property
    def count(self) -> int:
        return int(self.seconds * 1000 / self.packet_ms)

    def ts_of(self, i: int) -> int:
        return (self.ts0 + i * self.dur) & 0xFFFF_FFFF

    def run(self, jb: JitterBuffer) -> tuple[list[Frame], list[int], list[PushResult]]:
        rng = np.random.default_rng(self.seed)
        events: list[tuple[float, int, int]] = []
        for i in range(self.count):
            send = i * self.packet_ms / 1000 / (1 + self.ppm * 1e-6)
            arrival = send + 0.005 + rng.uniform(0, self.jitter_ms / 1000) + self.delay.get(i, 0)
            if i not in self.drop:
                events.append((arrival, 0, i))
            if i in self.dups:
                events.append((arrival + rng.uniform(0, 0.05), 0, i))
        for k in range(int(self.seconds * 50) + 25):
            events.append((k * 0.02, 1, k))
        events.sort()
        frames, depths, results = [], [], []
        for when, kind, i in events:
            if kind == 0:
                ts = self.ts_of(i)
                results.append(jb.push((self.seq0 + i) & 0xFFFF, ts, source(ts, self.dur), when))
            else:
                frames.append(jb.pop())
                depths.append(jb.depth)
        return frames, depths, results


def check_frames(frames: list[Frame], call: Call) -> None:
    """One frame per pop, in order, and audio that is exactly what was sent."""
    previous: tuple[int, int] | None = None
    delivered = {call.ts_of(i) for i in range(call.count) if i not in call.drop}
    for frame in frames:
        assert frame.pcm.dtype == np.int16 and frame.pcm.shape == (FRAME,)
        if frame.timestamp is None:
            assert frame.consumed == 0
            continue
        if previous is not None:
            assert ts_diff(frame.timestamp, previous[0]) >= previous[1]  # never back, no overlap
        previous = (frame.timestamp, frame.consumed)
        starts = {
            frame.timestamp - (frame.timestamp - call.ts0) % call.dur + k * call.dur
            for k in range(FRAME // call.dur + 2)
        }
        covering = [
            s & 0xFFFF_FFFF
            for s in starts
            if s < frame.timestamp + FRAME and s + call.dur > frame.timestamp
        ]
        whole = all(s in delivered for s in covering)
        if frame.kind is FrameKind.AUDIO and frame.consumed == FRAME and whole:
            assert np.array_equal(frame.pcm, source(frame.timestamp, FRAME))


@pytest.mark.parametrize("packet_ms", [10, 20, 30, 40])
def test_in_order_stream_plays_exactly_after_the_target_delay(packet_ms: int) -> None:
    call = Call(packet_ms=packet_ms, seconds=5)
    jb = JitterBuffer(RATE)
    frames, _, results = call.run(jb)
    check_frames(frames, call)
    kinds = [f.kind for f in frames]
    first_audio = kinds.index(FrameKind.AUDIO)
    assert 2 <= first_audio <= 4  # the 60 ms target, give or take a packet
    assert kinds[first_audio : first_audio + 240].count(FrameKind.AUDIO) == 240
    assert set(results) == {PushResult.STORED}
    s = jb.stats
    assert (s.received, s.lost, s.late, s.duplicates, s.overflow) == (call.count, 0, 0, 0, 0)
    played = np.concatenate([f.pcm for f in frames if f.kind is FrameKind.AUDIO])
    assert np.array_equal(played[: 4 * RATE], source(call.ts0, 4 * RATE))


def test_reordered_packets_play_in_order() -> None:
    call = Call(seconds=4, delay={i: 0.025 for i in range(10, 190, 7)})
    jb = JitterBuffer(RATE)
    frames, _, _ = call.run(jb)
    check_frames(frames, call)
    assert jb.stats.concealed_frames == 3  # only the fade after the end of the stream
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_duplicates_are_dropped_and_counted() -> None:
    call = Call(seconds=4, dups={3, 50, 51, 120})
    jb = JitterBuffer(RATE)
    frames, _, results = call.run(jb)
    check_frames(frames, call)
    assert results.count(PushResult.DUPLICATE) == 4
    assert jb.stats.duplicates == 4 and jb.stats.received == call.count


def test_single_loss_is_concealed_by_a_fading_repeat() -> None:
    call = Call(seconds=2, drop={40})
    jb = JitterBuffer(RATE)
    frames, _, _ = call.run(jb)
    check_frames(frames, call)
    concealed = [f for f in frames if f.kind is FrameKind.CONCEALED]
    assert concealed[0].timestamp == call.ts_of(40)
    assert jb.stats.lost == 1
    # It repeats the frame before, faded.
    before = next(f for f in frames if f.timestamp == call.ts_of(39))
    gain = np.linspace(1.0, 1 - FRAME / jb.conceal_len, FRAME, endpoint=False)
    assert np.allclose(concealed[0].pcm, before.pcm * gain, atol=1)


def test_long_loss_fades_to_silence_and_resumes() -> None:
    call = Call(seconds=3, drop=set(range(50, 60)))
    jb = JitterBuffer(RATE, conceal_ms=60)
    frames, _, _ = call.run(jb)
    check_frames(frames, call)
    # The buffer runs dry at the gap: it holds playout (no timestamps), conceals
    # for 60 ms, then plays silence until packet 60 arrives.
    last_before = next(k for k, f in enumerate(frames) if f.timestamp == call.ts_of(49))
    resume = next(k for k, f in enumerate(frames) if f.timestamp == call.ts_of(60))
    kinds = [f.kind for f in frames[last_before + 1 : resume]]
    assert kinds[:3] == [FrameKind.CONCEALED] * 3
    assert set(kinds[3:]) == {FrameKind.SILENCE} and len(kinds) >= 8
    assert jb.stats.lost == 10


def test_late_packet_is_dropped_and_counted_not_lost() -> None:
    call = Call(seconds=3, delay={30: 0.3})
    jb = JitterBuffer(RATE)
    frames, _, results = call.run(jb)
    check_frames(frames, call)
    assert results.count(PushResult.LATE) == 1
    assert jb.stats.late == 1 and jb.stats.lost == 0 and jb.stats.received == call.count


def test_sequence_and_timestamp_wrap_around() -> None:
    call = Call(
        seconds=4,
        seq0=65500,
        ts0=0xFFFF_FFFF - 40 * 160 + 17,
        drop={70},
        delay={20: 0.03, 60: 0.03},
    )
    jb = JitterBuffer(RATE)
    frames, _, _ = call.run(jb)
    check_frames(frames, call)
    s = jb.stats
    assert (s.received, s.lost, s.late, s.resets) == (call.count - 1, 1, 0, 0)


def test_burst_is_bounded_by_dropping_the_oldest() -> None:
    # A 1 s network stall: everything arrives at once afterwards.
    call = Call(seconds=4, delay={i: 1.0 - (i - 50) * 0.02 for i in range(50, 100)})
    jb = JitterBuffer(RATE, max_ms=200)
    frames, depths, _ = call.run(jb)
    check_frames(frames, call)
    assert max(depths) <= jb.max_depth
    assert jb.stats.overflow > 0
    assert jb.stats.underruns >= 1


def test_silence_suppression_gap_is_silence_not_loss() -> None:
    jb = JitterBuffer(RATE)
    frames = []
    seq, ts, now = 7, 1000, 0.0
    events: list[tuple[float, int, int, bool, bool]] = []
    for spurt in range(3):
        for i in range(25):
            events.append((now + 0.005, seq, ts, i == 0, False))
            seq, ts, now = seq + 1, ts + FRAME, now + 0.02
        if spurt == 1:
            events.append((now + 0.005, seq, ts, False, True))  # comfort noise, PT 13
            seq += 1
        ts, now = ts + 8000, now + 1.0
    pops = [(k * 0.02, -1, 0, False, False) for k in range(int(now / 0.02) + 10)]
    for when, s, t, marker, cn in sorted(events + pops):
        if s < 0:
            frames.append(jb.pop())
        else:
            pcm = np.zeros(0, np.int16) if cn else tone(t, FRAME)
            jb.push(s, t, pcm, when, marker=marker, comfort_noise=cn)
    kinds = "".join(f.kind.value[0] for f in frames)
    assert jb.stats.lost == 0
    assert kinds.count("a") == 75
    # Without comfort noise the buffer cannot tell a pause from a late packet and
    # conceals briefly (3 frames); after comfort noise it plays silence at once.
    spurts = [k for k in kinds.split("s") if k]
    assert spurts == ["a" * 25 + "ccc", "a" * 25, "a" * 25 + "ccc"]


def test_new_ssrc_reset_and_sender_restart() -> None:
    jb = JitterBuffer(RATE)
    for i in range(10):
        jb.push(100 + i, 160 * i, tone(160 * i, FRAME), 0.02 * i)
    jb.reset()
    assert jb.depth == 0 and jb.stats.resets == 1
    assert jb.push(40000, 0, tone(0, FRAME), 1.0) is PushResult.STORED  # a new source
    # Within one source, a sequence jump is held back until the next packet
    # confirms it (RFC 3550 A.1).
    jb2 = JitterBuffer(RATE)
    for i in range(5):
        jb2.push(100 + i, 160 * i, tone(160 * i, FRAME), 0.02 * i)
    assert jb2.push(30000, 9999, tone(0, FRAME), 0.2) is PushResult.DISCARDED
    assert jb2.push(30001, 10159, tone(0, FRAME), 0.22) is PushResult.STORED
    assert jb2.stats.resets == 1 and jb2.stats.lost == 0


def test_timestamps_jumping_back_resync_after_a_run_of_late_packets() -> None:
    jb = JitterBuffer(RATE)
    results, kinds = [], []
    for i in range(100):
        ts = 160 * i if i < 50 else 160 * (i - 50)  # timestamps restart, sequence does not
        results.append(jb.push(i, ts, tone(ts, FRAME), 0.02 * i))
        kinds.append(jb.pop().kind)
    assert results.count(PushResult.LATE) == 9
    assert jb.stats.resets == 1
    assert kinds[-30:] == [FrameKind.AUDIO] * 30


@pytest.mark.parametrize(("ppm", "seconds"), [(100, 600), (-100, 600), (1000, 300), (-1000, 300)])
def test_clock_drift_is_absorbed_over_a_long_call(ppm: float, seconds: float) -> None:
    call = Call(seconds=seconds, ppm=ppm, jitter_ms=10)
    jb = JitterBuffer(RATE)
    frames, depths, _ = call.run(jb)
    check_frames(frames, call)
    drift_frames = abs(ppm) * 1e-6 * seconds * 50
    s = jb.stats
    adjustments = s.drift_drops if ppm > 0 else s.drift_inserts
    assert drift_frames - 2 <= adjustments <= drift_frames + 2
    assert max(depths[100:-30]) <= jb.target + 3 * FRAME
    assert s.underruns == 1  # the end of the call
    assert s.late == 0


def test_recorded_ffmpeg_stream_plays_back_exactly() -> None:
    data = (FIXTURES / "pcmu_stream.bin").read_bytes()
    packets, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("!H", data, pos)
        packets.append(RtpPacket.parse(data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    codec = AudioCodec(CodecName.PCMU)
    jb = JitterBuffer(RATE)
    out = []
    order = list(range(len(packets)))
    order[10], order[11] = order[11], order[10]  # reorder one pair
    for k, i in enumerate(order):
        p = packets[i]
        jb.push(p.sequence_number, p.timestamp, codec.decode(p.payload), 0.02 * k)
        out.append(jb.pop())
    out += [jb.pop() for _ in range(5)]
    played = np.concatenate([f.pcm for f in out if f.kind is FrameKind.AUDIO])
    assert np.array_equal(played, codec.decode(b"".join(p.payload for p in packets)))


@settings(max_examples=20, deadline=None)
@given(
    packet_ms=st.sampled_from([10, 20, 30, 40]),
    ppm=st.floats(-100, 100),
    jitter_ms=st.floats(0, 30),
    loss=st.floats(0, 0.1),
    dup=st.floats(0, 0.1),
    seq0=st.integers(0, 65535),
    ts0=st.integers(0, 0xFFFF_FFFF),
    seed=st.integers(0, 2**32 - 1),
)
def test_properties_under_random_network(  # noqa: PLR0917 - hypothesis passes them by name
    packet_ms: int,
    ppm: float,
    jitter_ms: float,
    loss: float,
    dup: float,
    seq0: int,
    ts0: int,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    call = Call(
        packet_ms=packet_ms, seconds=60, ppm=ppm, jitter_ms=jitter_ms, seq0=seq0, ts0=ts0, seed=seed
    )
    last = call.count - 1
    # The first and last packets are kept: a receiver cannot know of losses outside them.
    call.drop = {i for i in range(1, last) if rng.random() < loss}
    call.dups = {i for i in range(call.count) if i not in call.drop and rng.random() < dup}
    jb = JitterBuffer(RATE)
    frames, depths, _ = call.run(jb)
    assert len(frames) == int(call.seconds * 50) + 25
    check_frames(frames, call)
    assert max(depths) <= jb.max_depth
    s = jb.stats
    assert s.received == call.count - len(call.drop)
    assert s.lost == len(call.drop)
    assert s.duplicates == len(call.dups)
    assert s.late == 0 and s.overflow == 0 and s.resets == 0


class _CheckedRender(JitterBuffer):
    """Renders every frame both ways: the one-packet fast path must equal the general one."""

    rendered = 0

    def _render(self, start: int, n: int) -> tuple[Pcm, int, int, int | None, int]:
        fast = super()._render(start, n)
        general = self._render_general(start, n)
        assert np.array_equal(fast[0], general[0])
        assert fast[1:] == general[1:]
        self.rendered += 1
        return fast


@settings(max_examples=25, deadline=None)
@given(
    packet_ms=st.sampled_from([10, 20, 30, 40]),
    ppm=st.floats(-100, 100),
    jitter_ms=st.floats(0, 60),
    loss=st.floats(0, 0.2),
    dup=st.floats(0, 0.1),
    seed=st.integers(0, 2**32 - 1),
)
def test_single_packet_render_equals_general_render(  # noqa: PLR0917 - hypothesis passes them by name
    packet_ms: int, ppm: float, jitter_ms: float, loss: float, dup: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    call = Call(packet_ms=packet_ms, seconds=5, ppm=ppm, jitter_ms=jitter_ms, seed=seed)
    call.drop = {i for i in range(1, call.count - 1) if rng.random() < loss}
    call.dups = {i for i in range(call.count) if i not in call.drop and rng.random() < dup}
    jb = _CheckedRender(RATE)
    frames, _, _ = call.run(jb)
    check_frames(frames, call)
    assert jb.rendered > 0
