"""The on-disk outbox: append-only segment files plus the highest confirmed sequence.

Synchronous and confined to the export writer thread (see writer.py). Each
line of `seg-<first seq>.log` is `header-json TAB body-json NEWLINE`; compact
JSON never holds a raw tab or newline. A segment is deleted once every event
in it is confirmed; `acked` holds the highest confirmed sequence (replaced
atomically, not fsynced: after a power cut some confirmed events may be sent
again, which the message id lets consumers drop). A torn last line is skipped.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SEGMENT_RECORDS = 1000


class SpoolError(OSError):
    """The outbox directory cannot be read or written."""


@dataclass(frozen=True)
class SpoolItem:
    """An event on its way into the outbox."""

    key: str  # routing key = event kind
    message_id: str
    call_id: str
    created: float  # wall-clock seconds, for the delivery-lag metric
    body: bytes


@dataclass(frozen=True)
class SpoolEntry:
    """An event durably in the outbox, waiting for the broker's confirm."""

    seq: int
    key: str
    message_id: str
    call_id: str
    created: float
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass
class _Segment:
    first: int
    last: int
    path: Path


class DiskSpool:
    """Ordered, durable FIFO of events; `ack(seq)` confirms every event up to seq."""

    def __init__(self, directory: Path, segment_records: int = SEGMENT_RECORDS) -> None:
        self._dir = directory
        self._segment_records = segment_records
        self._segments: list[_Segment] = []
        self._current: _Segment | None = None
        self._file: int | None = None  # fd of the current segment
        self._next_seq = 1
        self._acked = 0

    def open(self) -> list[SpoolEntry]:
        """Recover the unconfirmed events in order; later appends go to a new segment."""
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._acked = self._read_acked()
            entries: list[SpoolEntry] = []
            for path in sorted(self._dir.glob("seg-*.log")):
                found = list(_read_segment(path))
                first = int(path.stem[4:])
                last = max((e.seq for e in found), default=first - 1)
                self._next_seq = max(self._next_seq, last + 1)
                if last <= self._acked:
                    path.unlink()
                    continue
                self._segments.append(_Segment(first, last, path))
                entries += [e for e in found if e.seq > self._acked]
            self._next_seq = max(self._next_seq, self._acked + 1)
        except OSError as exc:
            raise SpoolError(f"export spool {self._dir}: {exc.strerror or exc}") from exc
        return entries

    def append(self, items: list[SpoolItem]) -> list[SpoolEntry]:
        """Write and fsync a batch; the entries are durable when this returns."""
        entries: list[SpoolEntry] = []
        chunks: list[bytes] = []
        for item in items:
            if self._current is None or self._current.last - self._current.first + 1 >= (
                self._segment_records
            ):
                self._write(chunks)
                chunks = []
                self._rotate()
            seg = self._current
            assert seg is not None  # set by _rotate
            entry = SpoolEntry(
                self._next_seq, item.key, item.message_id, item.call_id, item.created, item.body
            )
            self._next_seq += 1
            seg.last = entry.seq
            header = json.dumps(
                [entry.seq, entry.key, entry.message_id, entry.call_id, entry.created],
                separators=(",", ":"),
            )
            chunks.append(header.encode() + b"\t" + entry.body + b"\n")
            entries.append(entry)
        self._write(chunks)
        if self._file is not None:
            os.fsync(self._file)
        return entries

    def ack(self, seq: int) -> None:
        """Every event up to `seq` is confirmed: record it, delete finished segments."""
        if seq <= self._acked:
            return
        self._acked = seq
        tmp = self._dir / "acked.tmp"
        tmp.write_text(str(seq), encoding="ascii")
        os.replace(tmp, self._dir / "acked")
        while self._segments and self._segments[0].last <= seq:
            seg = self._segments.pop(0)
            if seg is self._current:
                self._close_file()
                self._current = None
            seg.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._close_file()

    # ------------------------------------------------------------ internal

    def _rotate(self) -> None:
        self._close_file()
        path = self._dir / f"seg-{self._next_seq:016d}.log"
        self._file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._current = _Segment(self._next_seq, self._next_seq - 1, path)
        self._segments.append(self._current)
        # The new name must survive a crash too.
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _write(self, chunks: list[bytes]) -> None:
        if chunks and self._file is not None:
            data = b"".join(chunks)
            while data:
                written = os.write(self._file, data)
                data = data[written:]

    def _close_file(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def _read_acked(self) -> int:
        try:
            return int((self._dir / "acked").read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError:
            log.warning("export spool: unreadable acked marker, resending all")
            return 0


def _read_segment(path: Path) -> list[SpoolEntry]:
    entries: list[SpoolEntry] = []
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                log.warning("export spool: skipped a torn last line")
                break
            header, sep, body = line[:-1].partition(b"\t")
            try:
                seq, key, message_id, call_id, created = json.loads(header)
            except ValueError:
                log.warning("export spool: skipped an unreadable line")
                continue
            if sep:
                entries.append(SpoolEntry(seq, key, message_id, call_id, created, body))
    return entries
