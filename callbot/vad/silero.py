"""Silero VAD v6 (the ONNX that ships inside faster-whisper) on one onnxruntime thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from callbot.vad.base import Float

_CONTEXT = 64
_FRAME = 512  # 32 ms at 16 kHz: the only size and rate this export takes


def silero_session(path: Path) -> Any:
    """An onnxruntime session with one thread; share it between calls (state is per call)."""
    import onnxruntime  # type: ignore[import-untyped]

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"], sess_options=opts
    )


class SileroBackend:
    """One call's Silero state over a shared session."""

    sample_rate = 16000
    frame_samples = _FRAME

    def __init__(self, session: Any) -> None:
        self._session = session
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def probability(self, frame: Float) -> float:
        x = np.concatenate((self._context, frame))[None, :]
        out, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-_CONTEXT:].copy()
        return float(np.asarray(out).reshape(-1)[0])


class WebRtcPreGate:
    """Skips the inner backend on frames webrtcvad calls unvoiced (cheap, never decisive alone)."""

    def __init__(self, inner: SileroBackend, mode: int = 1) -> None:
        import webrtcvad  # type: ignore[import-untyped]

        self.inner = inner
        self.sample_rate = inner.sample_rate
        self.frame_samples = inner.frame_samples
        self._vad = webrtcvad.Vad(mode)
        self._sub = self.sample_rate // 100  # 10 ms frames
        self.skipped = 0

    def reset(self) -> None:
        self.inner.reset()

    def probability(self, frame: Float) -> float:
        pcm = np.clip(frame * 32768.0, -32768, 32767).astype(np.int16)
        voiced = any(
            self._vad.is_speech(pcm[i : i + self._sub].tobytes(), self.sample_rate)
            for i in range(0, pcm.size - self._sub + 1, self._sub)
        )
        if voiced:
            return self.inner.probability(frame)
        self.skipped += 1
        return 0.0
