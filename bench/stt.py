"""STT benchmark: streaming vs offline WER, endpoint latency, calls carried, window study.

Run: `.venv/bin/python -m bench.stt` (about 8 minutes on 2 cores). Writes
`bench/results/stt.json` and prints the figures.

- WER at 16 kHz and at 8 kHz µ-law: the clips go at 1x real time through a
  `Listener` (VAD → endpointing → streaming STT) and, in the same run, through
  offline faster-whisper `transcribe` (beam 5) on the same model and audio.
- Latency: end of speech → final = endpoint silence (the dialogue's default,
  the one the full loop uses) + X, X measured per final from the endpoint.
- Load: N listeners on one SttService, each fed continuous speech at 1x real
  time; a load is carried while finals' p95 stays within endpoint + 1 s.
- Window study: whole-clip decodes with 30, 15 and 10 s encoder windows, tiny.en
  on the English clips (WER) and base on espeak-ng Korean (CER).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from callbot.clock import LoopClock
from callbot.dialog.hints import DEFAULT_SILENCE_MS
from callbot.media.g711 import Pcm
from callbot.media.resample import resample
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings
from callbot.stt.feed import feed, telephone
from callbot.stt.listener import Listener
from callbot.stt.service import SttConfig, SttService
from callbot.stt.wavfile import read_wav
from callbot.stt.wer import errors
from callbot.stt.whisper import SAMPLE_RATE, WhisperEngine

SPEECH = Path(os.environ.get("CALLBOT_SPEECH_DIR", "/work/shared/data/speech"))
RESULTS = Path(__file__).parent / "results" / "stt.json"
WINDOWS = (30.0, 15.0, 10.0)
KOREAN = (
    "안녕하세요. 예약을 변경하고 싶습니다.",
    "제 전화번호는 공일공 일이삼사 오육칠팔입니다.",
    "내일 오후 세 시에 방문할 수 있을까요?",
    "주문한 상품이 아직 도착하지 않았어요.",
    "상담원과 통화하고 싶습니다.",
)


def _clips() -> list[tuple[str, str, Pcm, int]]:
    rows = (SPEECH / "transcripts.tsv").read_text().splitlines()[1:]
    out = []
    for row in rows:
        cols = row.split("\t")
        if cols[1] == "en":
            pcm, rate = read_wav(SPEECH / f"{cols[0]}.wav")
            out.append((cols[0], cols[-1], pcm, rate))
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _chars(text: str) -> str:
    return " ".join(ch for ch in text if ch.isalnum())


def _cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """Character errors (Korean is scored by syllable: word boundaries vary)."""
    return errors(_chars(reference), _chars(hypothesis))


async def _listen(
    service: SttService, pcm: Pcm, rate: int, *, realtime: bool = True, language: str = "en"
) -> tuple[list[ListenEvent], Listener]:
    events: list[ListenEvent] = []
    settings = TurnSettings(silence_ms=DEFAULT_SILENCE_MS)
    listener = Listener(service, sample_rate=rate, language=language, settings=settings,
                        clock=LoopClock(), on_event=events.append)  # fmt: skip
    listener.start()
    try:
        await feed(listener, pcm, realtime=realtime)
    finally:
        await listener.aclose()
    return events, listener


def _finals(events: list[ListenEvent]) -> list[ListenEvent]:
    return [e for e in events if e.kind is ListenEventKind.FINAL]


async def wer_and_latency(service: SttService, clips: list[Any]) -> dict[str, Any]:
    model = service.engine("en")._require()
    out: dict[str, Any] = {}
    for label, narrow in (("16k", False), ("8k_ulaw", True)):
        s_err = o_err = total = 0
        waits: list[float] = []
        per_clip = {}
        for clip, ref, pcm, rate in clips:
            audio, call_rate = (telephone(pcm, rate), 8000) if narrow else (pcm, rate)
            events, _ = await _listen(service, audio, call_rate)
            hyp = " ".join(e.text for e in _finals(events))
            waits += [e.wait_ms for e in _finals(events)]
            wide = resample(audio, call_rate, SAMPLE_RATE) if call_rate != SAMPLE_RATE else audio
            segs, _ = await asyncio.to_thread(
                model.transcribe, wide.astype(np.float32) / 32768, language="en", beam_size=5
            )
            offline = " ".join(s.text for s in segs)
            e_s, n = errors(ref, hyp)
            e_o, _ = errors(ref, offline)
            per_clip[clip] = {"words": n, "streaming_errors": e_s, "offline_errors": e_o}
            s_err, o_err, total = s_err + e_s, o_err + e_o, total + n
        out[label] = {
            "words": total,
            "streaming_errors": s_err,
            "offline_errors": o_err,
            "streaming_wer": round(100 * s_err / total, 2),
            "offline_wer": round(100 * o_err / total, 2),
            "finals": len(waits),
            "endpoint_silence_ms": DEFAULT_SILENCE_MS,
            "after_endpoint_ms_p50": round(_pct(waits, 0.5), 1),
            "after_endpoint_ms_p95": round(_pct(waits, 0.95), 1),
            "per_clip": per_clip,
        }
        r = out[label]
        print(
            f"[{label}] WER streaming {r['streaming_wer']}% ({s_err}) vs offline "
            f"{r['offline_wer']}% ({o_err}) over {total} words; end of speech → final "
            f"p50 {DEFAULT_SILENCE_MS} + {r['after_endpoint_ms_p50']} ms, "
            f"p95 {DEFAULT_SILENCE_MS} + {r['after_endpoint_ms_p95']} ms",
            flush=True,
        )
    return out


def _speech_stream(clips: list[Any], seconds: float, offset: int) -> Pcm:
    """Continuous 8 kHz µ-law speech: the clips one after another, 300 ms apart."""
    parts: list[Pcm] = []
    n = 0
    i = offset
    while n < seconds * 8000:
        _, _, pcm, rate = clips[i % len(clips)]
        parts += [telephone(pcm, rate), np.zeros(2400, dtype=np.int16)]
        n += parts[-2].size + 2400
        i += 1
    return np.concatenate(parts)[: int(seconds * 8000)]


async def load(service: SttService, clips: list[Any], levels: list[int], seconds: float
               ) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for calls in levels:
        streams = [_speech_stream(clips, seconds, k * 3) for k in range(calls)]
        t0 = time.monotonic()
        results = await asyncio.gather(*(_listen(service, s, 8000) for s in streams))
        wall = time.monotonic() - t0
        waits = [e.wait_ms for ev, _ in results for e in _finals(ev)]
        speech_s = sum((e.end_ms - e.start_ms) / 1000 for ev, _ in results for e in _finals(ev))
        partials = sum(lst.stats.partials for _, lst in results)
        shed = sum(lst.stats.partials_shed for _, lst in results)
        spec = sum(lst.stats.speculative_used for _, lst in results)
        wasted = sum(lst.stats.speculative_wasted for _, lst in results)
        row = {
            "calls": calls,
            "finals": len(waits),
            "after_endpoint_ms_p50": round(_pct(waits, 0.5), 1),
            "after_endpoint_ms_p95": round(_pct(waits, 0.95), 1),
            "after_endpoint_ms_max": round(max(waits, default=float("nan")), 1),
            "partials_per_speech_s": round(partials / speech_s, 2) if speech_s else 0.0,
            "partials_shed": shed,
            "speculative_used": spec,
            "speculative_wasted": wasted,
            "wall_s": round(wall, 1),
            "carried": bool(waits) and _pct(waits, 0.95) <= 1000.0,
        }
        out.append(row)
        print(
            f"[load] {calls:2d} calls: finals {len(waits)}, endpoint + p50 "
            f"{row['after_endpoint_ms_p50']} / p95 {row['after_endpoint_ms_p95']} / max "
            f"{row['after_endpoint_ms_max']} ms, partials/speech-s "
            f"{row['partials_per_speech_s']}, shed {shed}, speculative used {spec} wasted "
            f"{wasted}: {'carried' if row['carried'] else 'NOT carried'}",
            flush=True,
        )
        if not row["carried"]:
            break
    return out


def _korean_audio(narrow: bool) -> list[tuple[str, np.ndarray]]:
    """espeak-ng Korean (no real Korean speech may ship): 16 kHz, or through 8 kHz µ-law."""
    if shutil.which("espeak-ng") is None:
        return []
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(KOREAN):
            path = Path(tmp) / f"ko{i}.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True)
            pcm, rate = read_wav(path)
            wide = (
                resample(telephone(pcm, rate), 8000, SAMPLE_RATE)
                if narrow
                else resample(pcm, rate, SAMPLE_RATE)
            )
            out.append((text, wide.astype(np.float32) / 32768))
    return out


def _study(engine: WhisperEngine, items: list[tuple[str, np.ndarray]], language: str,
           score: Any, beam: int) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for window in WINDOWS:
        engine.window_s = window
        err = total = fallbacks = 0
        times = []
        for ref, audio in items:
            t0 = time.perf_counter()
            d = engine.decode(audio, language=language, words=True, beam_size=beam)
            times.append((time.perf_counter() - t0) * 1000)
            e, n = score(ref, d.text)
            err, total, fallbacks = err + e, total + n, fallbacks + bool(d.fallback)
        rows.append({"window_s": window, "errors": err, "units": total,
                     "error_rate": round(100 * err / total, 2),
                     "decode_ms_p50": round(_pct(times, 0.5), 1),
                     "decode_ms_p95": round(_pct(times, 0.95), 1),
                     "loop_fallbacks": fallbacks})  # fmt: skip
        print(
            f"[window] {engine.name} {window:4.0f} s: {err}/{total} errors "
            f"({rows[-1]['error_rate']}%), decode p50 {rows[-1]['decode_ms_p50']} ms "
            f"p95 {rows[-1]['decode_ms_p95']} ms, loop fallbacks {fallbacks}",
            flush=True,
        )
    return rows


async def _streaming_errors(
    service: SttService, clips: list[Any], *, narrow: bool
) -> tuple[int, int]:
    """Errors of the finals when the clips go through a Listener (8 kHz µ-law or 16 kHz)."""
    err = total = 0
    for _, ref, pcm, rate in clips:
        audio, call_rate = (telephone(pcm, rate), 8000) if narrow else (pcm, rate)
        events, _ = await _listen(service, audio, call_rate, realtime=False)
        e, n = errors(ref, " ".join(e.text for e in _finals(events)))
        err, total = err + e, total + n
    return err, total


async def window_study(service: SttService, clips: list[Any]) -> dict[str, Any]:
    en = service.engine("en")
    ko = service.engine("ko")
    keep_en, keep_ko = en.window_s, ko.window_s
    en_items = [
        (ref, resample(telephone(pcm, rate), 8000, SAMPLE_RATE).astype(np.float32) / 32768)
        for _, ref, pcm, rate in clips
    ]
    out: dict[str, Any] = {}
    try:
        beam = service.config.beam_size
        rows = _study(en, en_items, "en", errors, beam)
        for row in rows:
            en.window_s = row["window_s"]
            for tag, narrow in (("16k", False), ("8k_ulaw", True)):
                e, n = await _streaming_errors(service, clips, narrow=narrow)
                row[f"streaming_errors_{tag}"] = e
                print(f"[window] streaming {tag} {row['window_s']:4.0f} s: {e}/{n} errors "
                      f"({100 * e / n:.2f}%)", flush=True)  # fmt: skip
        out["en_tiny.en_wer_8k_ulaw"] = rows
        for key, narrow in (
            ("ko_base_cer_espeak_16k", False),
            ("ko_base_cer_espeak_8k_ulaw", True),
        ):
            ko_items = _korean_audio(narrow)
            if ko_items:
                out[key] = _study(ko, ko_items, "ko", _cer, beam)
    finally:
        en.window_s, ko.window_s = keep_en, keep_ko
    return out


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    clips = _clips()
    service = SttService(SttConfig(window_s=args.window))
    t0 = time.perf_counter()
    service.load(["en", "ko"])
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_before": _loadavg()},
        "model": "whisper-tiny.en (int8, 2 workers x 1 thread)",
        "beam_size_finals": service.config.beam_size,
        "window_s": args.window,
        "load_s": round(time.perf_counter() - t0, 1),
    }
    print(
        f"load average before: {result['machine']['loadavg_before']}",
        flush=True,
    )
    try:
        if "windows" in args.parts:
            result["windows"] = await window_study(service, clips)
        if "wer" in args.parts:
            result["wer_latency"] = await wer_and_latency(service, clips)
        if "load" in args.parts:
            result["load"] = await load(service, clips, args.levels, args.seconds)
    finally:
        service.close()
    result["machine"]["loadavg_after"] = _loadavg()
    print(
        f"load average after: {result['machine']['loadavg_after']}",
        flush=True,
    )
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench.stt", description=__doc__)
    p.add_argument("--window", type=float, default=SttConfig().window_s)
    p.add_argument("--levels", type=int, nargs="+", default=[4, 8, 12, 14, 16])
    p.add_argument("--seconds", type=float, default=30.0, help="speech per call at each load")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--parts", nargs="+", default=["windows", "wer", "load"],
                   choices=["windows", "wer", "load"])  # fmt: skip
    args = p.parse_args(argv)
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
