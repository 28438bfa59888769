"""Drive a Listener from a whole recording, frame by frame, as a call would."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from callbot.media.g711 import Pcm, ulaw_decode, ulaw_encode
from callbot.media.resample import resample
from callbot.stt.listener import Listener


def telephone(pcm: Pcm, rate: int) -> Pcm:
    """What an 8 kHz G.711 µ-law call carries of this audio (8 kHz PCM after decoding)."""
    narrow = resample(pcm, rate, 8000) if rate != 8000 else pcm
    return ulaw_decode(ulaw_encode(narrow))


def to_call_rate(pcm: Pcm, rate: int) -> tuple[Pcm, int]:
    """Audio at a rate a call has: 8 or 16 kHz (others are resampled to 16 kHz)."""
    if rate in (8000, 16000):
        return pcm, rate
    return resample(pcm, rate, 16000), 16000


async def feed(
    listener: Listener,
    pcm: Pcm,
    *,
    frame_ms: int = 20,
    realtime: bool = False,
    start_ms: float = 0.0,
    trailing_silence_ms: int | None = None,
) -> float:
    """Push `pcm` (at the listener's rate) then enough silence for the endpoint.

    Returns the media time (ms) after the last frame. `realtime` paces frames by
    the wall clock (a benchmark); otherwise each frame yields to the loop once.
    """
    rate = listener.sample_rate
    n = rate * frame_ms // 1000
    tail = trailing_silence_ms
    if tail is None:
        tail = listener.settings.silence_ms + 300
    audio = np.concatenate((pcm, np.zeros(rate * tail // 1000, dtype=np.int16)))
    t0 = time.monotonic()
    for i in range(0, audio.size, n):
        frame = audio[i : i + n]
        media_ms = start_ms + i * 1000 / rate
        if realtime:
            delay = t0 + (media_ms - start_ms) / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        listener.push(frame, media_ms)
        if not realtime:
            await asyncio.sleep(0)
    return start_ms + audio.size * 1000 / rate
