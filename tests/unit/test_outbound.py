"""Shared pacer and per-call outbound audio, on a virtual clock."""

from __future__ import annotations

import numpy as np

from callbot.clock import VirtualClock
from callbot.media.codec import AudioCodec, CodecName
from callbot.media.echo import EchoLoop
from callbot.media.outbound import OutboundAudio, OutFrame
from callbot.media.pacer import Pacer


def _outbound(
    clock: VirtualClock, sent: list[tuple[float, OutFrame]], lead_s: float = 0.0
) -> tuple[Pacer, OutboundAudio]:
    pacer = Pacer(clock)
    out = OutboundAudio(
        pacer,
        AudioCodec(CodecName.PCMU),
        8000,
        20,
        lambda f: sent.append((clock.now(), f)),
        lead_s=lead_s,
    )
    return pacer, out


def test_frames_leave_once_per_interval_on_a_monotonic_schedule() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    out.push(np.arange(1600, dtype=np.int16))  # 10 frames
    clock.advance(1.0)
    times = [t - sent[0][0] for t, _ in sent]
    assert len(sent) == 10
    np.testing.assert_allclose(times, [i * 0.02 for i in range(10)], atol=1e-9)
    assert [f.utterance_offset for _, f in sent] == [i * 160 for i in range(10)]


def test_clear_stops_output_within_a_frame() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    out.push(np.ones(8000, dtype=np.int16))  # 50 frames
    clock.advance(0.105)
    before = len(sent)
    assert out.clear() == 50 - before
    clock.advance(1.0)
    assert len(sent) == before
    assert out.idle


def test_partial_frame_waits_for_flush_and_is_padded() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    out.push(np.ones(200, dtype=np.int16))
    clock.advance(0.1)
    assert len(sent) == 1
    out.flush()
    clock.advance(0.1)
    assert len(sent) == 2
    assert sent[1][1].pcm[:40].tolist() == [1] * 40 and not sent[1][1].pcm[40:].any()


def test_lead_sends_the_first_frames_at_once() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent, lead_s=0.06)
    out.push(np.ones(1600, dtype=np.int16))
    clock.advance(0.0)
    assert len(sent) == 4  # frames due at -60, -40, -20 and 0 ms


def test_many_streams_keep_their_own_phase() -> None:
    clock = VirtualClock()
    pacer = Pacer(clock)
    log: dict[int, list[float]] = {}
    outs = []
    for i in range(50):
        log[i] = []
        out = OutboundAudio(
            pacer,
            AudioCodec(CodecName.PCMA),
            8000,
            20,
            lambda f, i=i: log[i].append(clock.now()),  # type: ignore[misc]
        )
        outs.append(out)
        clock.advance(0.0004)  # spread phases
        out.push(np.zeros(160 * 25, dtype=np.int16))
    clock.advance(1.0)
    for times in log.values():
        assert len(times) == 25
        assert np.allclose(np.diff(times), 0.02, atol=0.001)
    assert pacer.active_streams == 0


def test_echo_loop_is_a_pure_delay_and_clears() -> None:
    loop = EchoLoop(3)
    out = np.concatenate(
        [loop.process(np.array(c, dtype=np.int16)) for c in ([1, 2], [3, 4, 5], [6])]
    )
    assert out.tolist() == [0, 0, 0, 1, 2, 3]
    loop.clear()
    assert loop.process(np.array([9, 9, 9, 9], dtype=np.int16)).tolist() == [0, 0, 0, 9]


def test_echo_loop_matches_a_reference_delay_for_any_chunking() -> None:
    rng = np.random.default_rng(3)
    signal = rng.integers(-1000, 1000, 5000).astype(np.int16)
    for delay in (1, 7, 160, 4000):
        loop = EchoLoop(delay)
        pos, chunks = 0, []
        while pos < signal.size:
            n = int(rng.integers(1, 700))
            chunks.append(loop.process(signal[pos : pos + n]))
            pos += n
        out = np.concatenate(chunks)
        expected = np.concatenate((np.zeros(delay, dtype=np.int16), signal))[: signal.size]
        np.testing.assert_array_equal(out, expected)


def test_pause_keeps_the_queue_and_resume_continues_where_it_stopped() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    tapped: list[OutFrame] = []
    out.add_tap(tapped.append)
    out.push(np.ones(8000, dtype=np.int16))  # 50 frames
    clock.advance(0.105)
    before = len(sent)
    out.pause()
    out.push(np.ones(160, dtype=np.int16))  # queued while paused: still not sent
    clock.advance(1.0)
    assert len(sent) == before and out.paused and out.queued_frames == 51 - before
    out.resume()
    clock.advance(2.0)
    assert len(sent) == 51 and not out.paused
    assert [f.utterance_offset for _, f in sent] == [i * 160 for i in range(51)]
    assert [f.utterance_offset for f in tapped] == [i * 160 for i in range(51)]


def test_clear_ends_a_pause() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    out.push(np.ones(1600, dtype=np.int16))
    out.pause()
    assert out.clear() == 10
    out.push(np.ones(160, dtype=np.int16))
    clock.advance(0.1)
    assert len(sent) == 1 and not out.paused


def test_recall_sends_the_last_frames_again_first_and_clear_forgets_them() -> None:
    clock = VirtualClock()
    sent: list[tuple[float, OutFrame]] = []
    _, out = _outbound(clock, sent)
    out.push(np.arange(8 * 160, dtype=np.int16))  # 8 frames
    clock.advance(0.105)  # 6 sent (at 0, 20, … 100 ms)
    out.pause()
    assert out.recall(2) == 2  # frames 4 and 5 were not heard
    out.resume()
    clock.advance(1.0)
    assert [f.utterance_offset // 160 for _, f in sent] == [0, 1, 2, 3, 4, 5, 4, 5, 6, 7]
    out.clear()
    assert out.recall(3) == 0
