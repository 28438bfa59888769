"""espeak-ng voices: a NON-NEURAL formant fallback (Korean until a neural voice is set up).

No Korean neural voice ships on PyPI. Korean calls speak through espeak-ng
so they work at all; it sounds robotic, and config, docs and logs say so.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import wave

import numpy as np

from callbot.media.g711 import Pcm
from callbot.tts.base import Synthesizer, VoiceInfo
from callbot.tts.errors import SynthesisFailed, VoiceNotFound

log = logging.getLogger(__name__)
_TIMEOUT_S = 10.0


def wav_pcm(data: bytes) -> tuple[Pcm, int]:
    """Mono 16-bit PCM and its rate from WAV bytes (espeak-ng writes a streaming header)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisFailed("espeak-ng did not write a WAV file")
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SynthesisFailed("espeak-ng WAV is not mono 16-bit")
        rate = w.getframerate()
    # The header's sizes are 0x7fffffff when writing to a pipe: take the data chunk's bytes.
    start = data.find(b"data")
    if start < 0 or start + 8 > len(data):
        raise SynthesisFailed("espeak-ng WAV has no data chunk")
    body = data[start + 8 :]
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2").astype(np.int16), rate


class EspeakSynthesizer(Synthesizer):
    """`espeak-ng -v <voice> --stdout`, one subprocess per piece (non-neural)."""

    warm_up_text = "안녕하세요."

    def __init__(
        self, voice: str = "ko", *, language: str = "ko", program: str = "espeak-ng",
        speed_wpm: int = 160,
    ) -> None:  # fmt: skip
        self._voice = voice
        self._program = program
        self._speed = speed_wpm
        self._path: str | None = None
        self.info = VoiceInfo(f"espeak-ng:{voice}", language, neural=False, sample_rate=22050)
        if language == "en":
            self.warm_up_text = "Hello."

    def load(self) -> None:
        path = shutil.which(self._program)
        if path is None:
            raise VoiceNotFound(f"{self._program} is not installed")
        self._path = path
        log.warning(
            "speaking through espeak-ng, a non-neural formant voice (fallback: no neural "
            "voice is configured for this language)",
            extra={"voice": self.info.name, "language": self.info.language},
        )

    def synthesize(self, text: str) -> Pcm:
        if self._path is None:
            raise VoiceNotFound("espeak-ng voice used before load()")
        cmd = [self._path, "-v", self._voice, "-s", str(self._speed), "--stdout", "--", text]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SynthesisFailed(f"espeak-ng failed: {type(exc).__name__}") from exc
        if done.returncode != 0:
            raise SynthesisFailed(f"espeak-ng exited with {done.returncode}")
        pcm, rate = wav_pcm(done.stdout)
        if rate != self.info.sample_rate:
            self.info = VoiceInfo(self.info.name, self.info.language, False, rate)
        return pcm
