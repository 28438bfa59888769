"""CPU work off the event loop, in priority lanes, with shedding and call admission.

Lanes run strictly by priority (FRONT, then FINAL, then PARTIAL), first come
first served within a lane, on a fixed set of threads (the models' own threads
are set to one each: on a 2-core box parallel calls beat parallel threads). A
partial is a nice-to-have: it is refused when the pool already has a backlog and
dropped at dequeue when it waited too long. A final is never refused or dropped.

A partial never takes the last worker (`max_running_partials`, workers - 1 by
default): a started decode cannot be pre-empted, and a turn's final or
speculative decode must not wait ~200 ms behind a partial that nobody waits for.

Priority alone cannot stop a FRONT job (a reply's first audio) from waiting out
a decode that has already started (~150-300 ms here), so `front_workers` extra
threads take FRONT jobs only: the reply starts at once and shares the cores with
the decodes for its few tens of ms.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class Lane(enum.IntEnum):
    FRONT = 0  # TTS first chunks, intent embeddings (later issues)
    FINAL = 1
    PARTIAL = 2


class Shed(RuntimeError):
    """A job was not run because the pool is overloaded (partials only)."""

    retryable = True


class Refused(RuntimeError):
    """A new call was not admitted: the pool is at its configured call limit."""


@dataclass
class LaneStats:
    submitted: int = 0
    completed: int = 0
    shed: int = 0
    busy_s: float = 0.0
    wait_s: list[float] = field(default_factory=list)


@dataclass(order=True)
class _Job:
    lane: int
    seq: int
    queued_at: float = field(compare=False)
    fn: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


class LaneExecutor:
    """A thread pool with priority lanes. `start()` starts the threads; `shutdown()` ends them."""

    def __init__(
        self,
        workers: int = 2,
        *,
        front_workers: int = 1,
        max_running_partials: int | None = None,
        max_partial_backlog: int | None = None,
        max_partial_wait_s: float = 0.5,
        max_calls: int = 0,
        name: str = "cpu",
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if workers < 1 or front_workers < 0:
            raise ValueError(f"need workers >= 1 and front_workers >= 0, got {workers}, "
                             f"{front_workers}")  # fmt: skip
        self.workers = workers
        self.front_workers = front_workers
        self.max_running_partials = (
            max(1, workers - 1) if max_running_partials is None else max_running_partials
        )
        self._running_partials = 0
        self.max_partial_backlog = workers if max_partial_backlog is None else max_partial_backlog
        self.max_partial_wait_s = max_partial_wait_s
        self.max_calls = max_calls
        self._name = name
        self._timer = timer
        self._heap: list[_Job] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._stopping = False
        self.calls = 0
        self.stats = {lane: LaneStats() for lane in Lane}

    def start(self) -> None:
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            for i in range(self.workers + self.front_workers):
                front = i >= self.workers
                name = f"{self._name}-{'front-' if front else ''}{i}"
                t = threading.Thread(target=self._work, args=(front,), name=name, daemon=True)
                self._threads.append(t)
                t.start()

    def shutdown(self) -> None:
        """Finish queued finals, shed queued partials, join the threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for t in threads:
            t.join()

    # ------------------------------------------------------------ admission

    def admit_call(self) -> None:
        """Reserve a call slot or raise `Refused`; `max_calls=0` means no limit."""
        with self._cond:
            if self.max_calls and self.calls >= self.max_calls:
                raise Refused(f"at the limit of {self.max_calls} calls")
            self.calls += 1

    def release_call(self) -> None:
        with self._cond:
            self.calls = max(0, self.calls - 1)

    # ------------------------------------------------------------------ jobs

    @property
    def backlog(self) -> int:
        """Jobs queued and not yet started."""
        with self._cond:
            return len(self._heap)

    def backlog_by_lane(self) -> dict[Lane, int]:
        with self._cond:
            counts = dict.fromkeys(Lane, 0)
            for job in self._heap:
                counts[Lane(job.lane)] += 1
            return counts

    def would_shed(self) -> bool:
        """True when a partial submitted now would be refused."""
        with self._cond:
            return self._overloaded()

    def _overloaded(self) -> bool:
        # Finals waiting means every worker is busy with something that matters more.
        urgent = any(j.lane < Lane.PARTIAL for j in self._heap)
        return urgent or len(self._heap) >= self.max_partial_backlog

    def submit(self, lane: Lane, fn: Callable[[], T]) -> Future[T]:
        """Queue `fn`; a PARTIAL is refused with `Shed` (raised here) under load."""
        future: Future[T] = Future()
        with self._cond:
            if self._stopping:
                raise RuntimeError("executor is shut down")
            stats = self.stats[lane]
            stats.submitted += 1
            if lane is Lane.PARTIAL and self._overloaded():
                stats.shed += 1
                raise Shed("partial shed: the pool has a backlog")
            job = _Job(int(lane), next(self._seq), self._timer(), fn, future)
            heapq.heappush(self._heap, job)
            self._cond.notify_all()  # a FRONT-only thread must not swallow the wake-up
        return future

    def _takes_next(self, front_only: bool) -> bool:
        if not self._heap:
            return False
        lane = self._heap[0].lane
        if front_only:
            return lane == Lane.FRONT
        if lane != Lane.PARTIAL or self._running_partials < self.max_running_partials:
            return True
        # Past the cap, a partial is taken only to be shed (stale, or shutting down).
        return self._stopping or self._timer() - self._heap[0].queued_at > self.max_partial_wait_s

    def _work(self, front_only: bool = False) -> None:
        while True:
            with self._cond:
                while not self._takes_next(front_only) and not self._stopping:
                    self._cond.wait()
                if not self._takes_next(front_only):
                    return  # stopping; the other workers finish what is queued
                job = heapq.heappop(self._heap)
                lane = Lane(job.lane)
                waited = self._timer() - job.queued_at
                stale = lane is Lane.PARTIAL and (
                    waited > self.max_partial_wait_s or self._stopping
                )
                if stale:
                    self.stats[lane].shed += 1
                else:
                    self._running += 1
                    if lane is Lane.PARTIAL:
                        self._running_partials += 1
            if stale:
                job.future.set_exception(Shed("partial shed: waited too long"))
                continue
            if not job.future.set_running_or_notify_cancel():
                with self._cond:
                    self._running -= 1
                    if lane is Lane.PARTIAL:
                        self._running_partials -= 1
                        self._cond.notify_all()
                continue
            started = self._timer()
            try:
                result = job.fn()
            except BaseException as exc:  # the caller's future carries it
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                with self._cond:
                    self._running -= 1
                    if lane is Lane.PARTIAL:
                        self._running_partials -= 1
                        self._cond.notify_all()  # a partial held back by the cap may start
                    stats = self.stats[lane]
                    stats.completed += 1
                    stats.busy_s += self._timer() - started
                    if len(stats.wait_s) < 100_000:
                        stats.wait_s.append(waited)
