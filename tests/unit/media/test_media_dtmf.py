"""DTMF: RFC 4733 telephone-events (sender, receiver) and in-band detection."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from callbot.media import g711
from callbot.media.dtmf import (
    DtmfDigit,
    DtmfReceiver,
    EventPacket,
    TelephoneEvent,
    digit_to_event,
    dtmf_packets,
)
from callbot.media.dtmf_detect import COLS, KEYS, ROWS, DtmfDetector, detect_dtmf
from callbot.media.g711 import Pcm
from callbot.media.resample import resample
from tests.conftest import speech_dir

# -- RFC 4733 ------------------------------------------------------------------


def test_telephone_event_round_trip() -> None:
    event = TelephoneEvent(11, end=True, volume=10, duration=1600)
    assert event.serialize() == bytes([11, 0x80 | 10, 0x06, 0x40])
    assert TelephoneEvent.parse(event.serialize()) == event
    assert event.digit == "#"
    assert TelephoneEvent(16).digit is None  # flash
    with pytest.raises(ValueError):
        TelephoneEvent(256)
    with pytest.raises(ValueError):
        TelephoneEvent(1, volume=64)
    with pytest.raises(ValueError):
        TelephoneEvent(1, duration=65536)


def test_digit_codes() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12
    with pytest.raises(ValueError):
        digit_to_event("E")


def test_sender_packets_follow_rfc4733() -> None:
    packets = dtmf_packets("5", 1234, 1000, interval=400)
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [p.marker for p in packets] == [True] + [False] * 5
    assert {p.timestamp for p in packets} == {1234}
    assert [p.offset for p in packets] == [0, 400, 800, 1000, 1000, 1000]
    assert [e.duration for e in events] == [400, 800, 1000, 1000, 1000, 1000]
    assert [e.end for e in events] == [False] * 3 + [True] * 3
    assert {e.event for e in events} == {5}
    with pytest.raises(ValueError):
        dtmf_packets("5", 0, 70000)


def feed(receiver: DtmfReceiver, packets: list[EventPacket], t0: float) -> list[DtmfDigit]:
    out = []
    for p in packets:
        out += receiver.push(p.timestamp, p.payload, t0 + p.offset / 8000)
    return out


def test_receiver_gives_one_digit_per_event_despite_redundancy() -> None:
    receiver = DtmfReceiver()
    digits = []
    for k, key in enumerate("1234#"):
        digits += feed(receiver, dtmf_packets(key, 8000 * k, 800), float(k))
    assert [d.digit for d in digits] == list("1234#")
    assert [d.duration for d in digits] == [800] * 5
    assert [d.timestamp for d in digits] == [0, 8000, 16000, 24000, 32000]


def test_receiver_survives_lost_start_and_lost_end_packets() -> None:
    receiver = DtmfReceiver(timeout=0.3)
    first = dtmf_packets("7", 100, 800)[1:]  # start packet lost
    assert [d.digit for d in feed(receiver, first, 0.0)] == ["7"]
    second = dtmf_packets("8", 5000, 800)[:-3]  # all three end packets lost
    assert feed(receiver, second, 1.0) == []
    third = dtmf_packets("9", 9000, 800)
    got = feed(receiver, third, 2.0)  # the next event closes the open one
    assert [(d.digit, d.duration) for d in got] == [("8", 800), ("9", 800)]
    fourth = dtmf_packets("0", 20000, 800)[:2]
    assert feed(receiver, fourth, 3.0) == []
    assert receiver.poll(3.1) == []
    assert [d.digit for d in receiver.poll(3.5)] == ["0"]
    assert receiver.poll(4.0) == []


def test_receiver_ignores_reordered_and_late_packets_of_finished_events() -> None:
    receiver = DtmfReceiver()
    packets = dtmf_packets("*", 100, 1200)
    reordered = [packets[1], packets[0], *packets[2:]]
    assert [d.digit for d in feed(receiver, reordered, 0.0)] == ["*"]
    assert feed(receiver, packets, 0.5) == []  # everything again: all duplicates
    assert feed(receiver, dtmf_packets("1", 50, 400), 0.6) == []  # older than the last
    flash = TelephoneEvent(16, duration=400).serialize()
    assert receiver.push(9000, flash, 1.0) == []
    assert receiver.ignored > 0


# -- in-band ---------------------------------------------------------------------


def dtmf_tone(
    key: str, ms: float, rate: int = 8000, dbfs: float = -10.0, twist: float = 0.0
) -> np.ndarray:
    row = next(i for i, keys in enumerate(KEYS) if key in keys)
    col = KEYS[row].index(key)
    t = np.arange(int(rate * ms / 1000)) / rate
    amplitude = 32768 * 10 ** (dbfs / 20)
    low = amplitude * np.sin(2 * np.pi * ROWS[row] * t + 0.4)
    high = amplitude * 10 ** (twist / 20) * np.sin(2 * np.pi * COLS[col] * t + 1.3)
    return low + high


def with_gaps(parts: list[np.ndarray], gap: int = 800) -> Pcm:
    silence = np.zeros(gap)
    out = [silence]
    for part in parts:
        out += [part, silence]
    return np.clip(np.rint(np.concatenate(out)), -32768, 32767).astype(np.int16)


def speech_clips() -> list[tuple[str, Pcm]]:
    clips = []
    for path in sorted(speech_dir().glob("*.wav")):
        with wave.open(str(path)) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1
            clips.append((path.name, np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()))
    return clips


@pytest.mark.parametrize("rate", [8000, 16000])
def test_every_key_is_detected_with_start_and_duration(rate: int) -> None:
    keys = "0123456789*#ABCD"
    pcm = with_gaps([dtmf_tone(k, 80, rate) for k in keys], gap=rate // 10)
    found = detect_dtmf(pcm, rate)
    assert "".join(d.digit for d in found) == keys
    for k, d in enumerate(found):
        true_start = rate // 10 + k * (rate * 80 // 1000 + rate // 10)
        assert abs(d.start - true_start) <= rate * 5 // 1000
        assert abs(d.duration - rate * 80 // 1000) <= rate * 6 // 1000


def test_streaming_in_20ms_chunks_matches_whole_buffer() -> None:
    pcm = with_gaps([dtmf_tone(k, 60) for k in "159#"], gap=400)
    detector = DtmfDetector(8000)
    chunked = []
    for i in range(0, len(pcm), 160):
        chunked += detector.process(pcm[i : i + 160])
    chunked += detector.flush()
    assert chunked == detect_dtmf(pcm)


@pytest.mark.parametrize(("ms", "found"), [(20, 0), (25, 0), (30, 0), (40, 1), (60, 1)])
def test_minimum_tone_duration(ms: int, found: int) -> None:
    assert len(detect_dtmf(with_gaps([dtmf_tone("5", ms)]))) == found


@pytest.mark.parametrize(("gap_ms", "found"), [(5, 1), (10, 1), (20, 1), (40, 2), (60, 2)])
def test_minimum_gap_between_digits(gap_ms: int, found: int) -> None:
    pcm = with_gaps([dtmf_tone("8", 100), np.zeros(8 * gap_ms), dtmf_tone("8", 100)], gap=0)
    pcm = np.concatenate([np.zeros(800, np.int16), pcm, np.zeros(800, np.int16)])
    assert len(detect_dtmf(pcm)) == found


@pytest.mark.parametrize(
    ("twist", "found"),
    [(-5.0, 0), (-3.5, 1), (0.0, 1), (7.5, 1), (8.5, 0), (10.0, 0)],
)
def test_twist_limits(twist: float, found: int) -> None:
    # Positive twist: high group louder (normal, up to 8 dB); negative: reverse, up to 4 dB.
    pcm = with_gaps([dtmf_tone("1", 100, dbfs=-20, twist=twist)])
    assert len(detect_dtmf(pcm)) == found


@pytest.mark.parametrize(("dbfs", "found"), [(-45.0, 0), (-38.0, 0), (-33.0, 1), (-7.0, 1)])
def test_level_threshold(dbfs: float, found: int) -> None:
    assert len(detect_dtmf(with_gaps([dtmf_tone("D", 100, dbfs=dbfs)]))) == found


def test_talk_off_speech_alone_produces_no_digits() -> None:
    for name, clip in speech_clips():
        narrow = resample(clip, 16000, 8000)
        for rate, pcm in (
            (16000, clip),
            (8000, narrow),
            (8000, g711.ulaw_decode(g711.ulaw_encode(narrow))),
        ):
            assert detect_dtmf(pcm, rate) == [], name
        loud = np.clip(narrow.astype(np.int64) * 4, -32768, 32767).astype(np.int16)
        assert detect_dtmf(loud, 8000) == [], name


@pytest.mark.parametrize(("tone_dbfs", "min_recall"), [(-10.0, 0.98), (-15.0, 0.85)])
def test_tones_mixed_into_speech_are_detected(tone_dbfs: float, min_recall: float) -> None:
    """70 ms keys with 60 ms pauses over whole clips of speech at -20 dBFS RMS, via mu-law."""
    rng = np.random.default_rng(7)
    expected = found = invented = 0
    for _name, clip in speech_clips():
        speech = resample(clip, 16000, 8000).astype(np.float64)
        speech *= 32768 * 10 ** (-20 / 20) / np.sqrt(np.mean(speech**2))
        keys = "".join(rng.choice(list("0123456789*#ABCD"), size=len(speech) // 1040 - 1))
        mixed = speech.copy()
        for k, key in enumerate(keys):
            mixed[800 + k * 1040 : 800 + k * 1040 + 560] += dtmf_tone(key, 70, dbfs=tone_dbfs)
        clipped = np.clip(np.rint(mixed), -32768, 32767).astype(np.int16)
        pcm = g711.ulaw_decode(g711.ulaw_encode(clipped))
        slots: set[int] = set()
        for d in detect_dtmf(pcm):
            # Speech may mask a tone's onset, so a detection may start late in its slot.
            k = (d.start - 800 + 80) // 1040
            offset = d.start - 800 - k * 1040
            hit = 0 <= k < len(keys) and keys[k] == d.digit and -80 <= offset < 560
            invented += not hit or k in slots
            if hit:
                slots.add(k)
        found += len(slots)
        expected += len(keys)
    assert invented == 0
    assert found / expected >= min_recall


def _reference_votes(detector: DtmfDetector, frames: np.ndarray) -> list[str | None]:
    """The straightforward analysis: every test on every window, complex DFT bins."""
    d = detector
    freqs = np.array(ROWS + COLS + tuple(2 * f for f in ROWS + COLS))
    basis = np.exp(-2j * np.pi * freqs[:, None] * np.arange(d.window)[None, :] / d.sample_rate)
    spectrum = np.stack([basis @ frame for frame in frames])
    power = np.abs(spectrum) ** 2
    magnitude = np.abs(spectrum)
    total = np.einsum("ij,ij->i", frames, frames)
    half = d.window // 2
    first_half = np.einsum("ij,ij->i", frames[:, :half], frames[:, :half])
    second_half = total - first_half
    rows, cols = power[:, :4], power[:, 4:8]
    r, c = np.argmax(rows, axis=1), np.argmax(cols, axis=1)
    idx = np.arange(len(frames))
    pr, pc = rows[idx, r], cols[idx, c]
    ok = (pr >= d._min_power) & (pc >= d._min_power)
    ok &= (pc <= pr * d._normal_twist) & (pr <= pc * d._reverse_twist)
    ok &= np.sort(rows, axis=1)[:, -2] * d._peak_margin <= pr
    ok &= np.sort(cols, axis=1)[:, -2] * d._peak_margin <= pc
    ok &= 2.0 * (pr + pc) / d.window >= d._min_tone_ratio * total
    mr, mc = magnitude[idx, r], magnitude[idx, c + 4]
    hr, hc = magnitude[idx, 8 + r], magnitude[idx, 12 + c]
    ok &= hr <= d._harmonic * mr + d._leak[r, c + 4] * mc
    ok &= hc <= d._harmonic * mc + d._leak[c + 4, r] * mr
    ok &= np.minimum(first_half, second_half) >= d._steadiness * np.maximum(first_half, second_half)
    return [KEYS[r[i]][c[i]] if ok[i] else None for i in range(len(frames))]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_staged_votes_equal_the_full_analysis(rate: int) -> None:
    """The detector skips work for windows that fail early; the votes must not change."""
    rng = np.random.default_rng(3)
    detector = DtmfDetector(rate)
    signals = [np.asarray(resample(clip, 16000, rate), np.float64) for _, clip in speech_clips()]
    for _ in range(30):
        keys = rng.choice(list("0123456789*#ABCD"), size=4)
        parts = [
            dtmf_tone(k, rng.uniform(10, 90), rate, rng.uniform(-45, -3), rng.uniform(-6, 10))
            for k in keys
        ]
        tones = with_gaps(parts, gap=int(rng.integers(0, rate // 20))).astype(np.float64)
        noise = rng.normal(0, rng.choice([0.0, 30.0, 300.0, 3000.0]), tones.size)
        signals.append(np.clip(np.rint(tones + noise), -32768, 32767))
    votes = 0
    for signal in signals:
        count = (len(signal) - detector.window) // detector.hop + 1
        for first in range(0, count, 50):
            n = min(50, count - first)
            begin = first * detector.hop
            frames = np.stack(
                [signal[begin + k * detector.hop :][: detector.window] for k in range(n)]
            )
            got = detector._votes(signal, begin, n)
            assert got == _reference_votes(detector, frames)
            votes += sum(v is not None for v in got)
    assert votes > 100  # the comparison covered real key votes, not only rejections
