"""The real models and the English demo flow, loaded once for the conversation tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callbot.conversation.handler import ConversationDeps
from callbot.dialog.hooks import HookRegistry, HookRunner
from callbot.dialog.loader import load_flow
from callbot.stt.service import SttService
from callbot.tts.cache import fixed_pieces, static_prompts
from callbot.tts.service import TtsConfig, TtsService

FLOW = Path(__file__).resolve().parents[3] / "examples" / "flows" / "lost_card_en.yaml"


@pytest.fixture(scope="package")
def deps() -> Iterator[ConversationDeps]:
    stt = SttService()
    stt.load(["en"])
    tts = TtsService(
        TtsConfig(voices={"en": "piper:joe"}, call_rates=(8000,)), executor=stt.executor
    )
    tts.load(["en"])
    flow = load_flow(FLOW)
    tts.build_cache(static_prompts(flow), fixed_pieces(flow))
    registry = HookRegistry()
    registry.load_flow_hooks(flow)
    yield ConversationDeps(stt, tts, flow, None, HookRunner(registry, flow.allowed_hosts))
    stt.close()
