"""The on-disk outbox keeps order, survives reopening, and deletes only confirmed events."""

from __future__ import annotations

from pathlib import Path

from callbot.export.spool import DiskSpool, SpoolItem


def _items(n: int, start: int = 0) -> list[SpoolItem]:
    return [
        SpoolItem("turn.final", f"id{i}", "c1", 1.0 + i, b'{"n":%d}' % i)
        for i in range(start, start + n)
    ]


def test_append_reopen_ack(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path, segment_records=4)
    assert spool.open() == []
    first = spool.append(_items(10))
    assert [e.seq for e in first] == list(range(1, 11))
    spool.close()

    again = DiskSpool(tmp_path, segment_records=4)
    recovered = again.open()
    assert [(e.seq, e.message_id, e.body) for e in recovered] == [
        (e.seq, e.message_id, e.body) for e in first
    ]
    again.ack(6)  # deletes the first segment (1-4), keeps 5-8
    assert len(list(tmp_path.glob("seg-*.log"))) == 2
    more = again.append(_items(2, 10))
    assert [e.seq for e in more] == [11, 12]  # numbering goes on after a reopen
    again.close()

    third = DiskSpool(tmp_path, segment_records=4)
    assert [e.seq for e in third.open()] == [7, 8, 9, 10, 11, 12]
    third.ack(12)
    assert list(tmp_path.glob("seg-*.log")) == []
    third.close()


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.open()
    spool.append(_items(3))
    spool.close()
    seg = next(tmp_path.glob("seg-*.log"))
    seg.write_bytes(seg.read_bytes() + b'[4,"turn.final","id3","c1",1.0]\t{"n":')
    again = DiskSpool(tmp_path)
    assert [e.seq for e in again.open()] == [1, 2, 3]
    assert [e.seq for e in again.append(_items(1))] == [4]  # appended to a fresh segment
    again.close()
    assert [e.seq for e in DiskSpool(tmp_path).open()] == [1, 2, 3, 4]
