"""Caller audio for `callbot call`: WAV files or text spoken by espeak-ng."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from callbot.media import g711
from callbot.media.g711 import Pcm
from callbot.media.resample import resample


class CallerAudioError(ValueError):
    """A caller line could not be turned into audio."""


def load_wav(path: Path, rate: int) -> Pcm:
    """Any PCM16, µ-law or A-law mono/stereo WAV, as int16 PCM at `rate`."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, src_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        return _load_g711_wav(path, rate, exc)
    if width != 2:
        raise CallerAudioError(f"{path}: {8 * width}-bit WAV; use 16-bit PCM, µ-law or A-law")
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels)[:, 0].copy()
    return resample(pcm, src_rate, rate) if src_rate != rate else pcm


def _load_g711_wav(path: Path, rate: int, original: Exception) -> Pcm:
    # The stdlib wave module reads PCM only: parse the fmt/data chunks of G.711 WAVs.
    data = path.read_bytes() if path.exists() else b""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise CallerAudioError(f"{path}: not a WAV file ({original})")
    pos, fmt, src_rate, body = 12, 0, 0, b""
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunk = data[pos + 8 : pos + 8 + size]
        if cid == b"fmt " and len(chunk) >= 8:
            fmt, src_rate = (
                int.from_bytes(chunk[:2], "little"),
                int.from_bytes(chunk[4:8], "little"),
            )
        elif cid == b"data":
            body = chunk
        pos += 8 + size + (size & 1)
    decode = {7: g711.ulaw_decode, 6: g711.alaw_decode}.get(fmt)
    if decode is None or not src_rate:
        raise CallerAudioError(f"{path}: unsupported WAV format {fmt}")
    pcm = decode(body)
    return resample(pcm, src_rate, rate) if src_rate != rate else pcm


def say(text: str, rate: int, voice: str = "en-us+m3") -> Pcm:
    """Text spoken by espeak-ng (a voice unlike the bot's), at `rate`."""
    if shutil.which("espeak-ng") is None:
        raise CallerAudioError("--say needs espeak-ng (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
        return load_wav(out, rate)


def save_stereo(path: Path, caller: Pcm, bot: Pcm, rate: int) -> None:
    """Both legs as one stereo WAV: caller left, bot right."""
    n = max(caller.size, bot.size)
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: caller.size, 0] = caller
    stereo[: bot.size, 1] = bot
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(stereo.tobytes())
