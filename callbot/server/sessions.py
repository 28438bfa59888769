"""Live calls of one instance: admission control, watchdog, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from callbot.call import CallSession
from callbot.clock import Clock
from callbot.server.contract import ContractError
from callbot.server.metrics import Metrics
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

_WATCHDOG_PERIOD_S = 0.5


@dataclass
class LiveCall:
    """A session plus what the watchdog needs to police it."""

    session: CallSession
    task: asyncio.Task[object] | None
    write_pending_since: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class SessionManager:
    """Admits, watches and drains the calls of this instance."""

    def __init__(
        self,
        clock: Clock,
        metrics: Metrics,
        *,
        max_calls: int,
        media_timeout_s: float,
        slow_consumer_timeout_s: float,
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._max_calls = max_calls
        self._media_timeout_s = media_timeout_s
        self._slow_timeout_s = slow_consumer_timeout_s
        self._calls: dict[str, LiveCall] = {}
        self._reserved: set[str] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self.draining = False
        self.ready = False

    @property
    def active(self) -> int:
        return len(self._calls) + len(self._reserved)

    def calls(self) -> list[LiveCall]:
        return list(self._calls.values())

    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None

    def reserve(self, call_id: str) -> None:
        """Admission control: refuse rather than degrade every call."""
        if self.draining or not self.ready:
            self._metrics.calls_rejected.labels("unavailable").inc()
            raise ContractError(
                pb.ERROR_CODE_UNAVAILABLE,
                "server is draining" if self.draining else "server is not ready",
            )
        if call_id in self._calls or call_id in self._reserved:
            self._metrics.calls_rejected.labels("duplicate_call_id").inc()
            raise ContractError(
                pb.ERROR_CODE_INVALID_ARGUMENT, "a call with this call_id is already active"
            )
        if self.active >= self._max_calls:
            self._metrics.calls_rejected.labels("capacity").inc()
            raise ContractError(
                pb.ERROR_CODE_RESOURCE_EXHAUSTED,
                f"at capacity ({self._max_calls} concurrent calls)",
            )
        self._reserved.add(call_id)

    def unreserve(self, call_id: str) -> None:
        self._reserved.discard(call_id)

    def add(self, session: CallSession, task: asyncio.Task[object] | None) -> LiveCall:
        call_id = session.config.call_id
        self._reserved.discard(call_id)
        live = LiveCall(session, task)
        self._calls[call_id] = live
        self._metrics.calls_active.set(len(self._calls))
        return live

    def remove(self, live: LiveCall) -> None:
        call_id = live.session.config.call_id
        if self._calls.get(call_id) is live:
            del self._calls[call_id]
        self._metrics.calls_active.set(len(self._calls))
        self._metrics.calls_total.labels(live.session.record.end_reason or "unknown").inc()
        live.done.set()

    async def drain(self, timeout_s: float) -> None:
        """Refuse new calls, let live ones finish up to `timeout_s`, then end them."""
        self.draining = True
        self._metrics.draining.set(1)
        deadline = self._clock.now() + timeout_s
        while self._calls and self._clock.now() < deadline:
            await self._clock.sleep(0.1)
        for live in list(self._calls.values()):
            live.session.end(pb.END_REASON_SERVER_SHUTDOWN, "server drain limit reached")
        for live in list(self._calls.values()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.done.wait(), timeout=5)

    async def _watch(self) -> None:
        while True:
            await self._clock.sleep(_WATCHDOG_PERIOD_S)
            self.check(self._clock.now())

    def check(self, now: float) -> None:
        """End calls whose media stopped, cancel streams whose client stopped reading."""
        for live in list(self._calls.values()):
            session = live.session
            if (
                not session.ended
                and not session.held
                and now - session.last_media_at > self._media_timeout_s
            ):
                session.end(pb.END_REASON_MEDIA_TIMEOUT, "no inbound media")
            since = live.write_pending_since
            if since is not None and now - since > self._slow_timeout_s:
                log.warning("client stopped reading its stream; ending the call")
                session.end(pb.END_REASON_SLOW_CONSUMER, "client stopped reading")
                if live.task is not None:
                    live.task.cancel()
                live.write_pending_since = None
