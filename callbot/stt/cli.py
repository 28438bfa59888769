"""`callbot transcribe FILE`: a WAV through exactly the call path (VAD → endpointing → STT)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from callbot.clock import LoopClock
from callbot.models import ModelError
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings
from callbot.stt.feed import feed, telephone, to_call_rate
from callbot.stt.listener import Listener
from callbot.stt.service import DEFAULT_MODELS, SttConfig, SttService
from callbot.stt.wavfile import WavError, read_wav


def _print(event: ListenEvent, as_json: bool) -> None:
    if event.kind not in (ListenEventKind.PARTIAL, ListenEventKind.FINAL):
        if as_json:
            print(json.dumps({"type": event.kind.value, "media_time_ms": event.media_time_ms}))
        return
    final = event.kind is ListenEventKind.FINAL
    if as_json:
        obj: dict[str, object] = {
            "type": "transcript", "final": final, "partial": not final, "text": event.text,
            "start_ms": event.start_ms, "end_ms": event.end_ms, "language": event.language,
            "utterance_id": event.utterance_id,
        }  # fmt: skip
        if final:
            obj["confidence"] = round(event.confidence, 3)
            obj["words"] = [
                {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms,
                 "probability": round(w.probability, 3)}
                for w in event.words
            ]  # fmt: skip
        else:
            obj["stability"] = round(event.stability, 3)
        print(json.dumps(obj, ensure_ascii=False), flush=True)
    else:
        tag = "final  " if final else "partial"
        span = f"{event.start_ms / 1000:7.2f}-{event.end_ms / 1000:7.2f}s"
        print(f"[{span}] {tag} {event.text}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    pcm, rate = read_wav(Path(args.file))
    if args.telephone:
        pcm, rate = telephone(pcm, rate), 8000
    else:
        pcm, rate = to_call_rate(pcm, rate)
    models = dict(DEFAULT_MODELS)
    language = args.language
    if args.model:
        models[language if language != "auto" else "en"] = args.model
    config = SttConfig(models=models, auto_model=args.model or "whisper-base", window_s=args.window)
    service = SttService(config)
    await asyncio.to_thread(service.load, [language])
    settings = TurnSettings(silence_ms=args.silence_ms, partial_interval_ms=args.partial_ms)
    listener = Listener(
        service, sample_rate=rate, language=language, settings=settings, clock=LoopClock(),
        on_event=lambda e: _print(e, args.json),
    )  # fmt: skip
    listener.start()
    try:
        await feed(listener, pcm, realtime=args.realtime)
    finally:
        await listener.aclose()
        service.close()
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="callbot transcribe", description=__doc__)
    p.add_argument("file", help="a WAV file: PCM at any rate, µ-law or A-law")
    p.add_argument("--model", help="manifest model name or a faster-whisper model directory")
    p.add_argument("--language", default="en", help="en, ko or auto (default en)")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--telephone", action="store_true", help="send it as 8 kHz G.711 µ-law")
    p.add_argument("--realtime", action="store_true", help="pace frames in real time")
    p.add_argument("--silence-ms", type=int, default=800, help="end-of-utterance silence")
    p.add_argument("--partial-ms", type=int, default=500, help="partial interval, 0: none")
    p.add_argument("--window", type=float, default=15.0, help="encoder window in seconds")
    args = p.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except (ModelError, WavError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
