"""JSONL file sink: one event a line, one file a UTC day, fsynced after each batch."""

from __future__ import annotations

import os
from pathlib import Path


class JsonlSink:
    """Appends lines to `<prefix>-YYYY-MM-DD.jsonl`; used only by the export writer thread."""

    def __init__(self, directory: Path, prefix: str = "events") -> None:
        self._dir = directory
        self._prefix = prefix
        self._day = ""
        self._fd: int | None = None

    def path_for(self, day: str) -> Path:
        return self._dir / f"{self._prefix}-{day}.jsonl"

    def write(self, lines: list[tuple[str, bytes]]) -> None:
        """(day, line without newline) pairs, in order; rotates when the day changes."""
        pending: list[bytes] = []
        for day, line in lines:
            if day != self._day:
                self._flush(pending)
                pending = []
                self._open(day)
            pending.append(line + b"\n")
        self._flush(pending)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._day = ""

    def _open(self, day: str) -> None:
        self.close()
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self.path_for(day)
        created = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._day = day
        if created:
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def _flush(self, chunks: list[bytes]) -> None:
        if not chunks or self._fd is None:
            return
        data = b"".join(chunks)
        while data:
            data = data[os.write(self._fd, data) :]
        os.fsync(self._fd)
