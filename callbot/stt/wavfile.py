"""Read a WAV (PCM 8/16/24/32-bit, float, µ-law or A-law) as mono int16 PCM."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from callbot.media.g711 import Pcm, alaw_decode, ulaw_decode


class WavError(ValueError):
    """The file is not a WAV this reader understands."""


def read_wav(path: Path) -> tuple[Pcm, int]:
    """(mono int16 samples, sample rate)."""
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{path}: not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    body: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            if len(chunk) < 16:
                raise WavError(f"{path}: fmt chunk has {len(chunk)} bytes, expected >= 16")
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", chunk[:16])
            if tag == 0xFFFE and len(chunk) >= 26:
                tag = struct.unpack("<H", chunk[24:26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size & 1)
    if fmt is None or body is None:
        raise WavError(f"{path}: no fmt or data chunk")
    tag, channels, rate, bits = fmt
    if channels < 1:
        raise WavError(f"{path}: {channels} channels")
    if tag == 7 and bits == 8:
        pcm = ulaw_decode(body)
    elif tag == 6 and bits == 8:
        pcm = alaw_decode(body)
    elif tag == 1 and bits == 16:
        pcm = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag == 1 and bits == 8:
        pcm = ((np.frombuffer(body, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif tag == 1 and bits in (24, 32):
        width = bits // 8
        raw = np.frombuffer(body[: len(body) // width * width], dtype=np.uint8).reshape(-1, width)
        pcm = (raw[:, -2].astype(np.int16) | (raw[:, -1].astype(np.int16) << 8)).astype(np.int16)
    elif tag == 3 and bits in (32, 64):
        floats = np.frombuffer(body, dtype="<f4" if bits == 32 else "<f8")
        pcm = np.clip(np.rint(floats * 32767), -32768, 32767).astype(np.int16)
    else:
        raise WavError(f"{path}: unsupported WAV format tag {tag} with {bits} bits")
    frames = pcm.size // channels
    mono = pcm[: frames * channels].reshape(frames, channels).mean(axis=1)
    return np.rint(mono).astype(np.int16), rate
