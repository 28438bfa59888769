"""Running the manager's HookRequests: registered Python hooks and allowlisted webhooks.

The manager only asks (HookRequest) and listens (HookResult). This runner does
the work with a timeout and turns every failure — an exception, a timeout, a
host not on the allowlist, a reply that is not a JSON object — into a failed
HookResult, so the flow takes its fallback step and the call goes on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import inspect
import json
import logging
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from callbot.dialog.errors import HookError
from callbot.dialog.events import HookRequest, HookResult
from callbot.dialog.inputs import SlotValue
from callbot.dialog.model import Flow

log = logging.getLogger(__name__)
HookFn = Callable[..., Mapping[str, Any] | Awaitable[Mapping[str, Any]]]
MAX_WEBHOOK_REPLY = 64 * 1024


class HookRegistry:
    """Python hooks by name. Registered explicitly, never by import side effects."""

    def __init__(self) -> None:
        self._hooks: dict[str, HookFn] = {}

    def register(self, name: str, fn: HookFn) -> None:
        self._hooks[name] = fn

    def get(self, name: str) -> HookFn | None:
        return self._hooks.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._hooks

    def load_flow_hooks(self, flow: Flow) -> None:
        """Import the hook files a flow names (``python: file.py:function``) and register them."""
        for hook in flow.hooks.values():
            if hook.kind != "python" or hook.name in self._hooks:
                continue
            file, _, func = hook.target.rpartition(":")
            module_name = f"callbot_flow_hooks_{Path(file).stem}_{abs(hash(file))}"
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise HookError(hook.name, "cannot import hook file")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            fn = getattr(module, func, None)
            if not callable(fn):
                raise HookError(hook.name, f"no function {func!r}")
            self.register(hook.name, fn)


def _clean(data: Mapping[str, Any]) -> dict[str, SlotValue | None]:
    out: dict[str, SlotValue | None] = {}
    for key, value in data.items():
        if value is None or isinstance(value, (str, int, bool)):
            out[str(key)] = value
        elif isinstance(value, float):
            out[str(key)] = str(value)
    return out


def _jsonable(args: Mapping[str, SlotValue | None]) -> dict[str, Any]:
    # Dates and times travel as ISO text, like the rest of the call record.
    return {k: v.isoformat() if isinstance(v, (dt.date, dt.time)) else v for k, v in args.items()}


class HookRunner:
    """Executes HookRequests; ``allowed_hosts`` is re-checked at run time."""

    def __init__(self, registry: HookRegistry, allowed_hosts: Iterable[str]) -> None:
        self._registry = registry
        self._allowed = frozenset(h.lower() for h in allowed_hosts)

    async def run(self, request: HookRequest) -> HookResult:
        timeout = request.timeout_ms / 1000
        try:
            if request.kind == "python":
                data = await asyncio.wait_for(self._python(request), timeout)
            else:
                data = await asyncio.wait_for(
                    asyncio.to_thread(self._webhook, request, timeout), timeout
                )
        except TimeoutError:
            log.warning("hook %s timed out", request.hook)
            return HookResult(request.id, False, error="timeout")
        except Exception as exc:  # a hook is user code: any failure is a fallback, not a crash
            log.warning("hook %s failed: %s", request.hook, type(exc).__name__)
            return HookResult(request.id, False, error=type(exc).__name__)
        return HookResult(request.id, True, _clean(data))

    def run_sync(self, request: HookRequest) -> HookResult:
        """For the CLI and tests, which have no event loop of their own."""
        return asyncio.run(self.run(request))

    async def _python(self, request: HookRequest) -> Mapping[str, Any]:
        fn = self._registry.get(request.hook)
        if fn is None:
            raise HookError(request.hook, "not registered")
        args = _jsonable(request.args)
        if inspect.iscoroutinefunction(fn):
            result = await fn(**args)
        else:
            # A blocking hook must not stall the event loop that carries audio.
            result = await asyncio.to_thread(fn, **args)
            if inspect.isawaitable(result):
                result = await result
        if not isinstance(result, Mapping):
            raise HookError(request.hook, "did not return a mapping")
        return result

    def _webhook(self, request: HookRequest, timeout: float) -> Mapping[str, Any]:
        parts = urlsplit(request.target)
        if (
            parts.scheme not in ("http", "https")
            or (parts.hostname or "").lower() not in self._allowed
        ):
            raise HookError(request.hook, "host not allowed")
        body = json.dumps({"hook": request.hook, "args": _jsonable(request.args)}).encode()
        req = urllib.request.Request(
            request.target, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read(MAX_WEBHOOK_REPLY + 1)
        if len(raw) > MAX_WEBHOOK_REPLY:
            raise HookError(request.hook, "reply too large")
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise HookError(request.hook, "reply is not a JSON object")
        return data
