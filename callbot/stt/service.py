"""The process-wide STT service: models loaded once, the lane executor, VADs for calls."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callbot.models import Manifest, ModelError, load_manifest, model_dir, model_file
from callbot.stt.whisper import WhisperEngine
from callbot.vad.base import VadParams, VoiceActivityDetector
from callbot.vad.silero import SileroBackend, WebRtcPreGate, silero_session
from callbot.workers import LaneExecutor

DEFAULT_MODELS: Mapping[str, str] = {"en": "whisper-tiny.en", "ko": "whisper-base"}


@dataclass(frozen=True)
class SttConfig:
    """Which model serves each language; a value is a manifest name or a model directory."""

    models: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    auto_model: str = "whisper-base"  # multilingual model for `auto` until detected
    languages: tuple[str, ...] = ("en", "ko")  # what `auto` chooses among
    window_s: float = 15.0  # encoder window (see docs/stt.md for the measurements)
    # Partials are provisional (the final is decoded again): a shorter window halves
    # their cost, and a partial that loops is dropped rather than decoded on 30 s.
    partial_window_s: float = 10.0
    beam_size: int = 5  # finals (as offline faster-whisper); partials are greedy
    workers: int = 2
    max_calls: int = 0  # 0: no admission limit
    vad_model: str = "silero-vad-v6"
    vad: VadParams = field(default_factory=VadParams)
    # G.711 narrowband speech scores lower on Silero: unvoiced onsets fall under 0.5.
    vad_narrowband: VadParams = field(
        default_factory=lambda: VadParams(threshold=0.3, neg_threshold=0.15)
    )
    webrtc_pregate: bool = False


class SttService:
    """Shared models and executor. `load()` at server start, `close()` at shutdown."""

    def __init__(
        self,
        config: SttConfig | None = None,
        *,
        executor: LaneExecutor | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.config = config or SttConfig()
        self.executor = executor or LaneExecutor(
            self.config.workers, max_calls=self.config.max_calls, name="stt"
        )
        self._manifest = manifest
        self._engines: dict[str, WhisperEngine] = {}  # by model name or directory
        self._vad_session: Any = None

    def _model_path(self, ref: str) -> tuple[str, Path]:
        if os.sep in ref or Path(ref).is_dir():
            path = Path(ref).expanduser()
            if not (path / "model.bin").is_file():
                raise ModelError(f"{path} is not a faster-whisper model directory (no model.bin)")
            return str(path), path
        manifest = self._manifest = self._manifest or load_manifest()
        return ref, model_dir(manifest.get(ref))

    def _model_ref(self, language: str) -> str:
        if language == "auto":
            return self.config.auto_model
        try:
            return self.config.models[language]
        except KeyError:
            raise ModelError(f"no STT model is configured for language {language!r}") from None

    def load(self, languages: Iterable[str] | None = None, *, warm_up: bool = True) -> None:
        """Verify and load every model the languages need, start the executor (seconds)."""
        wanted = list(languages) if languages is not None else [*self.config.models, "auto"]
        for language in wanted:
            ref = self._model_ref(language)
            key, path = self._model_path(ref)
            if key not in self._engines:
                engine = WhisperEngine(
                    path, name=key, window_s=self.config.window_s, num_workers=self.config.workers
                )
                engine.load()
                if warm_up:
                    engine.warm_up()
                self._engines[key] = engine
        if self._vad_session is None:
            manifest = self._manifest = self._manifest or load_manifest()
            spec = manifest.get(self.config.vad_model)
            self._vad_session = silero_session(model_file(spec, spec.files[0].name))
        self.executor.start()

    def engine(self, language: str) -> WhisperEngine:
        """The loaded engine for a language (`auto`: the multilingual one)."""
        ref = self._model_ref(language)
        key = ref if not (os.sep in ref or Path(ref).is_dir()) else str(Path(ref).expanduser())
        try:
            return self._engines[key]
        except KeyError:
            raise ModelError(f"model {ref!r} for {language!r} is not loaded") from None

    def can_serve(self, language: str) -> bool:
        try:
            self.engine(language)
        except ModelError:
            return False
        return True

    def new_vad(self, sample_rate: int, *, narrowband: bool = False) -> VoiceActivityDetector:
        if self._vad_session is None:
            raise ModelError("STT service used before load()")
        backend = SileroBackend(self._vad_session)
        params = self.config.vad_narrowband if narrowband else self.config.vad
        if self.config.webrtc_pregate:
            return VoiceActivityDetector(WebRtcPreGate(backend), sample_rate, params)
        return VoiceActivityDetector(backend, sample_rate, params)

    def close(self) -> None:
        self.executor.shutdown()
