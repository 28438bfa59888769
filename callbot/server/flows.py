"""Dialogue flows the service runs, loaded and checked once at start-up."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from callbot.dialog.errors import FlowError
from callbot.dialog.hooks import HookRegistry, HookRunner
from callbot.dialog.loader import load_flow
from callbot.dialog.model import Flow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedFlow:
    flow: Flow
    hooks: HookRunner


class FlowCatalogError(ValueError):
    """A flow file does not load: the service refuses to start with it."""


def load_catalog(directory: str) -> dict[str, LoadedFlow]:
    """Every `*.yaml` flow (not `*.test.yaml`) in `directory`, by flow name."""
    out: dict[str, LoadedFlow] = {}
    if not directory:
        return out
    root = Path(directory)
    if not root.is_dir():
        raise FlowCatalogError(f"flows_dir {directory!r} is not a directory")
    for path in sorted(root.glob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        try:
            flow = load_flow(path)
        except FlowError as exc:
            raise FlowCatalogError(f"{path}: {exc}") from exc
        if flow.name in out:
            raise FlowCatalogError(f"{path}: flow name {flow.name!r} is used twice")
        registry = HookRegistry()
        registry.load_flow_hooks(flow)
        out[flow.name] = LoadedFlow(flow, HookRunner(registry, flow.allowed_hosts))
        log.info("flow loaded", extra={"flow": flow.name, "version": flow.version[:12]})
    return out
