"""Lane executor priorities and shedding; stability; guards; WER; manifest."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from callbot.models import ModelError, load_manifest, model_dir
from callbot.stt.events import stability
from callbot.stt.guards import collapse_repeats, rejection
from callbot.stt.wer import errors
from callbot.stt.whisper import Decoded, _repeats
from callbot.workers import Lane, LaneExecutor, Refused, Shed


class _Clock:
    """A timer the test moves by hand: staleness never depends on the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _blocked_executor(
    clock: _Clock, front_workers: int = 0
) -> tuple[LaneExecutor, threading.Event, Future[None]]:
    """One worker, busy on a final until the returned gate opens."""
    ex = LaneExecutor(1, front_workers=front_workers, max_partial_backlog=1,
                      max_partial_wait_s=0.5, timer=clock)  # fmt: skip
    ex.start()
    gate, running = threading.Event(), threading.Event()

    def block() -> None:
        running.set()
        gate.wait()

    blocker = ex.submit(Lane.FINAL, block)
    assert running.wait(60)  # the worker holds the blocker: everything else queues
    return ex, gate, blocker


def test_finals_run_before_partials_and_partials_shed_first() -> None:
    clock = _Clock()
    ex, gate, blocker = _blocked_executor(clock)
    order: list[str] = []
    try:
        p1 = ex.submit(Lane.PARTIAL, lambda: order.append("p1"))
        with pytest.raises(Shed):  # backlog full
            ex.submit(Lane.PARTIAL, lambda: order.append("p2"))
        f1 = ex.submit(Lane.FINAL, lambda: order.append("f1"))
        front = ex.submit(Lane.FRONT, lambda: order.append("front"))
        with pytest.raises(Shed):  # a final is waiting: partials are refused
            ex.submit(Lane.PARTIAL, lambda: order.append("p3"))
        clock.now = 0.4  # p1 waited less than max_partial_wait_s: it still runs
        gate.set()
        for f in (blocker, front, f1, p1):
            f.result(60)
    finally:
        gate.set()
        ex.shutdown()
    assert order == ["front", "f1", "p1"]
    assert ex.stats[Lane.FINAL].shed == 0
    assert ex.stats[Lane.FINAL].completed == 2
    assert ex.stats[Lane.PARTIAL].shed == 2
    assert ex.stats[Lane.PARTIAL].completed == 1


def test_a_front_job_does_not_wait_for_a_running_decode() -> None:
    """The front thread takes FRONT jobs at once, and only them."""
    clock = _Clock()
    ex, gate, blocker = _blocked_executor(clock, front_workers=1)
    order: list[str] = []
    try:
        f1 = ex.submit(Lane.FINAL, lambda: order.append("f1"))
        front = ex.submit(Lane.FRONT, lambda: order.append("front"))
        front.result(60)  # while the worker still holds the blocker
        assert order == ["front"]
        assert not f1.done()  # the front thread left the final for the worker
        gate.set()
        f1.result(60)
    finally:
        gate.set()
        ex.shutdown()
    assert order == ["front", "f1"]
    assert blocker.done()


def test_a_partial_that_waited_too_long_is_shed_a_final_never() -> None:
    clock = _Clock()
    ex, gate, blocker = _blocked_executor(clock)
    order: list[str] = []
    try:
        p1 = ex.submit(Lane.PARTIAL, lambda: order.append("p1"))
        clock.now = 0.6  # past max_partial_wait_s before a worker gets to it
        gate.set()
        blocker.result(60)
        with pytest.raises(Shed, match="waited too long"):
            p1.result(60)
        f1 = ex.submit(Lane.FINAL, lambda: order.append("f1"))
        clock.now = 100.0  # however long a final waits, it runs
        f1.result(60)
    finally:
        gate.set()
        ex.shutdown()
    assert order == ["f1"]
    assert ex.stats[Lane.PARTIAL].shed == 1
    assert ex.stats[Lane.FINAL].shed == 0


def test_admission_refuses_past_the_limit() -> None:
    ex = LaneExecutor(1, max_calls=2)
    ex.admit_call()
    ex.admit_call()
    with pytest.raises(Refused):
        ex.admit_call()
    ex.release_call()
    ex.admit_call()


def test_stability_is_the_unchanged_prefix_share() -> None:
    assert stability("", "hello there") == 0.0
    assert stability("hello there", "hello there my") == pytest.approx(2 / 3)
    assert stability("hello their", "hello there") == 0.5


def _decoded(text: str, nsp: float = 0.05, lp: float = -0.2) -> Decoded:
    return Decoded(text, (), "en", 1.0, lp, nsp, 1.2, 1.0, 10.0)


def test_collapse_repeats_keeps_what_callers_repeat() -> None:
    assert collapse_repeats("four queen four queen") == "four queen"
    assert collapse_repeats("ten of clubs ten of clubs ten of clubs") == "ten of clubs"
    assert collapse_repeats("5 5") == "5 5"  # "five five" is a digit string, not a loop
    assert collapse_repeats("no no") == "no no"


def test_guards() -> None:
    assert rejection(_decoded("Thank you.", nsp=0.5)) == "phantom_phrase"
    assert rejection(_decoded(" . ")) == "empty"
    assert rejection(_decoded("hello", nsp=0.9, lp=-1.5)) == "no_speech"
    assert rejection(_decoded("I want to pay my bill")) is None
    assert rejection(_decoded("Thank you.", nsp=0.02, lp=-0.1)) is None


def test_wer_counts() -> None:
    assert errors("seven of clubs", "7 of clubs.") == (0, 3)
    assert errors("a b c", "a x c d") == (2, 3)


def test_manifest_lists_the_three_models() -> None:
    m = load_manifest()
    assert {"whisper-tiny.en", "whisper-base", "silero-vad-v6"} <= set(m.models)
    base = m.get("whisper-base")
    assert base.assembled[0].size == 145_217_532
    with pytest.raises(ModelError, match="unknown model"):
        m.get("nope")


def test_wrong_assembled_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = Path("models/manifest.yaml").read_text()
    bad = text.replace("d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", "0" * 64)
    (tmp_path / "m.yaml").write_text(bad)
    monkeypatch.setenv("CALLBOT_MODEL_CACHE", str(tmp_path / "cache"))
    spec = load_manifest(tmp_path / "m.yaml").get("whisper-base")
    try:
        with pytest.raises(ModelError, match=r"does not match|expected"):
            model_dir(spec)
    except ModelError as exc:  # packages not installed here
        pytest.skip(str(exc))
    assert not (tmp_path / "cache" / "whisper-base-0000000000000000" / "model.bin").exists()


def test_short_loops_are_detected_by_tokens() -> None:
    assert _repeats([7, 11] * 5)  # "4,4,4,4,4,": too short for the compression ratio
    assert _repeats([3, 9, 9, 9, 9, 9, 2])
    assert not _repeats([5, 5, 5, 5])  # "five five five five" is a phone number's digits
    assert not _repeats([1, 2, 3, 1, 2, 3, 1, 2, 3])


def test_a_partial_never_takes_the_last_worker() -> None:
    """Two workers: one runs a partial, the second partial waits, and a final that comes
    later starts at once on the free worker instead of queueing behind both partials."""
    ex = LaneExecutor(2, front_workers=0, max_partial_backlog=5)
    ex.start()
    gate, running = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_partial() -> None:
        running.set()
        gate.wait()
        order.append("p1")

    try:
        p1 = ex.submit(Lane.PARTIAL, slow_partial)
        assert running.wait(60)
        p2 = ex.submit(Lane.PARTIAL, lambda: order.append("p2"))
        f1 = ex.submit(Lane.FINAL, lambda: order.append("f1"))
        f1.result(60)
        assert order == ["f1"] and not p2.done()  # p2 held back by the cap, not run
        gate.set()
        p1.result(60)
        p2.result(60)
    finally:
        gate.set()
        ex.shutdown()
    assert order == ["f1", "p1", "p2"]


def test_shutdown_sheds_a_partial_held_back_by_the_cap() -> None:
    ex = LaneExecutor(1, front_workers=0, max_running_partials=0, max_partial_backlog=5)
    ex.start()
    p = ex.submit(Lane.PARTIAL, lambda: None)
    ex.shutdown()
    with pytest.raises(Shed):
        p.result(60)
