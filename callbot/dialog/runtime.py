"""Putting a flow to work: a manager per call, and a synchronous local session.

``new_manager`` is what the live call uses (models and example embeddings are
shared process-wide); ``LocalSession`` runs hooks inline for `flow chat` and
`flow test`, where there is no event loop and no switch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from callbot.dialog.events import Event, HookRequest, HookResult, Output
from callbot.dialog.hooks import HookRunner
from callbot.dialog.manager import Clock, DialogueManager
from callbot.dialog.model import Flow
from callbot.dialog.nlu.embedder import Embedder
from callbot.dialog.nlu.intents import IndexCache, IntentMatcher

SHARED_INDEX_CACHE = IndexCache()


def new_matcher(
    flow: Flow, embedder: Embedder | None, cache: IndexCache = SHARED_INDEX_CACHE
) -> IntentMatcher:
    index = cache.get(flow.version, flow.intents, embedder)
    s = flow.settings
    return IntentMatcher(flow.intents, index, embedder, s.intent_threshold, s.intent_margin)


def new_manager(
    flow: Flow,
    *,
    clock: Clock,
    embedder: Embedder | None,
    language: str | None = None,
    caller: Mapping[str, str] | None = None,
    cache: IndexCache = SHARED_INDEX_CACHE,
) -> DialogueManager:
    """A manager for one call; the flow's example embeddings are computed once per process."""
    return DialogueManager(
        flow,
        clock=clock,
        matcher=new_matcher(flow, embedder, cache),
        language=language,
        caller=caller,
    )


HookMock = Mapping[str, Any] | str  # result data, or "error" / "timeout"


class LocalSession:
    """Drives a manager and answers its HookRequests inline (mocks first, then the runner)."""

    def __init__(
        self,
        manager: DialogueManager,
        runner: HookRunner | None,
        mocks: Mapping[str, HookMock] | None = None,
        on_hook: Callable[[HookRequest, HookResult], None] | None = None,
    ) -> None:
        self.manager = manager
        self._runner = runner
        self._mocks = dict(mocks or {})
        self._on_hook = on_hook

    def start(self) -> list[Output]:
        return self._resolve(self.manager.start())

    def send(self, event: Event) -> list[Output]:
        return self._resolve(self.manager.handle(event))

    def _resolve(self, outputs: list[Output]) -> list[Output]:
        result = list(outputs)
        pending = [o for o in outputs if isinstance(o, HookRequest)]
        while pending:
            request = pending.pop(0)
            answer = self._answer(request)
            if self._on_hook is not None:
                self._on_hook(request, answer)
            more = self.manager.handle(answer)
            result.extend(more)
            pending.extend(o for o in more if isinstance(o, HookRequest))
        return result

    def _answer(self, request: HookRequest) -> HookResult:
        if request.hook in self._mocks:
            mock = self._mocks[request.hook]
            if isinstance(mock, str):
                return HookResult(request.id, False, error=mock)
            return HookResult(request.id, True, dict(mock))
        if self._runner is None:
            return HookResult(request.id, False, error="no hook runner")
        return self._runner.run_sync(request)
