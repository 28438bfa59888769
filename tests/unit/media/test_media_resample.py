"""Streaming resampler: chunked equals one-shot, frequencies kept, no clicks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from callbot.media.g711 import Pcm
from callbot.media.resample import StreamResampler, resample

RATES = (8000, 16000, 22050)
PAIRS = [p for p in itertools.permutations(RATES, 2)]


def sine(freq: float, rate: int, seconds: float, amplitude: float = 12000.0) -> Pcm:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def stream_in_chunks(pcm: Pcm, in_rate: int, out_rate: int, chunk_ms: int = 20) -> list[Pcm]:
    resampler = StreamResampler(in_rate, out_rate)
    step = in_rate * chunk_ms // 1000
    chunks = [resampler.process(pcm[i : i + step]) for i in range(0, len(pcm), step)]
    return [*chunks, resampler.flush()]


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_streaming_in_20ms_chunks_equals_one_shot(in_rate: int, out_rate: int) -> None:
    rng = np.random.default_rng(in_rate + out_rate)
    pcm = rng.integers(-20000, 20000, size=in_rate, dtype=np.int16)
    one_shot = resample(pcm, in_rate, out_rate)
    assert len(one_shot) == -(-len(pcm) * out_rate // in_rate)
    chunks = stream_in_chunks(pcm, in_rate, out_rate)
    assert np.array_equal(np.concatenate(chunks), one_shot)
    # After the first chunk every 20 ms chunk yields 20 ms give or take one sample.
    per_chunk = out_rate * 20 / 1000
    assert all(abs(len(c) - per_chunk) <= 1 for c in chunks[1:-2])


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
@pytest.mark.parametrize("freq", [440.0, 1000.0, 3000.0])
def test_sine_keeps_frequency_and_level(in_rate: int, out_rate: int, freq: float) -> None:
    out = np.concatenate(stream_in_chunks(sine(freq, in_rate, 1.0), in_rate, out_rate))
    body = out[out_rate // 10 : -out_rate // 10].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(body * np.hanning(len(body))))
    peak = np.argmax(spectrum) * out_rate / len(body)
    assert abs(peak - freq) < 2.0
    assert np.sqrt(np.mean(body**2)) == pytest.approx(12000 / np.sqrt(2), rel=0.01)
    # Sample-exact against the ideal sine: no glitch anywhere, chunk joins included.
    t = (np.arange(len(out)) / out_rate)[out_rate // 10 : -out_rate // 10]
    ideal = 12000 * np.sin(2 * np.pi * freq * t)
    assert np.max(np.abs(body - ideal)) < 30


@pytest.mark.parametrize(("in_rate", "out_rate"), PAIRS)
def test_no_discontinuity_at_chunk_boundaries(in_rate: int, out_rate: int) -> None:
    chunks = stream_in_chunks(sine(300.0, in_rate, 0.5), in_rate, out_rate)
    out = np.concatenate(chunks).astype(np.int64)
    steps = np.abs(np.diff(out[out_rate // 50 : -out_rate // 50]))
    # A 300 Hz sine of amplitude 12000 moves at most 2*pi*300*12000/rate per sample.
    assert steps.max() <= 2 * np.pi * 300 * 12000 / out_rate * 1.05 + 2


def test_downsampling_removes_what_the_lower_rate_cannot_carry() -> None:
    out = resample(sine(5000.0, 16000, 1.0), 16000, 8000)
    assert np.sqrt(np.mean(out[800:-800].astype(np.float64) ** 2)) < 10  # > 70 dB down


def test_same_rate_is_a_copy_and_reset_restarts() -> None:
    pcm = sine(440.0, 8000, 0.1)
    assert np.array_equal(resample(pcm, 8000, 8000), pcm)
    resampler = StreamResampler(8000, 16000)
    first = np.concatenate([resampler.process(pcm), resampler.flush()])
    second = np.concatenate([resampler.process(pcm), resampler.flush()])
    assert np.array_equal(first, second)
    with pytest.raises(ValueError):
        StreamResampler(0, 8000)


def test_extreme_levels_clip_instead_of_wrapping() -> None:
    square = np.tile(np.array([32767] * 20 + [-32768] * 20, dtype=np.int16), 100)
    out = resample(square, 8000, 22050)
    assert out.dtype == np.int16
    # Gibbs overshoot is clipped to full scale rather than wrapping to the other sign.
    assert out.max() == 32767 and out.min() == -32768
