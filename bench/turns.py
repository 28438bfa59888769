"""Turn latency and barge-in over real RTP at 1x, against a `callbot serve` subprocess.

Each simulated caller is a phone on the RTP leg: it sends a 20 ms µ-law packet
every 20 ms (silence between its lines), answers the `lost_card_en` flow with
synthetic speech (flite and espeak-ng voices, not the bot's), and records when each bot
packet arrives at its socket. The flow's confirmation step answered "no" loops
back to the card digits, so a call keeps going for as long as it is asked to.

- Voice-to-voice: the caller's last speech sample (the clip's last 10 ms within
  35 dB of its loudest 10 ms) → arrival of the bot's first packet of its answer,
  with the server's own `turn_metrics` breakdown (media time).
- Utterances with 0.4-1 s internal pauses (card digits, dates): turns the bot
  ended inside a pause (it answered, or declared the end of speech, before the
  caller's last speech sample).
- Barge-in: the caller talks over a long prompt; onset → last bot packet before
  playback paused. Noise bursts ("coughs") and backchannels over prompts; echo
  calls loop the bot's own audio back into the caller leg (-6 dB / 80 ms and
  0 dB / 20 ms).
- Capacity: concurrent calls (staggered starts, a caller line every ~6 s) until
  p95 voice-to-voice passes 1.2 s.

    python -m bench.turns [--quick] [--steps 8,10,12,14,16] [--voices flite|espeak]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import grpc
import numpy as np
import numpy.typing as npt

from bench.serving import wait_serving
from callbot.config import Settings
from callbot.media import g711
from callbot.media.rtp import RtpPacket
from callbot.stt.feed import telephone
from callbot.tts.espeak_voice import wav_pcm
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

RATE = 8000
FRAME = 160
TICK = 0.020
RESULTS = Path(__file__).parent / "results" / "turns.json"
Pcm = npt.NDArray[np.int16]
_STATE = pb.BotSpeechState


# ----------------------------------------------------------------- caller audio


@dataclass(frozen=True)
class Clip:
    name: str
    pcm: Pcm
    onset: int  # first sample of the first 10 ms within 35 dB of the loudest 10 ms
    end: int  # last sample of the last such 10 ms
    pauses: tuple[float, ...] = ()  # internal pauses (s)


def speech_span(pcm: Pcm) -> tuple[int, int]:
    """(onset, end) samples: first and last 10 ms whose level is within 35 dB of the peak."""
    n = RATE // 100
    blocks = pcm[: pcm.size - pcm.size % n].astype(np.float64).reshape(-1, n)
    db = 10 * np.log10(np.mean(blocks**2, axis=1) + 1e-9)
    loud = np.flatnonzero(db >= db.max() - 35)
    return int(loud[0] * n), int((loud[-1] + 1) * n)


def speak(text: str, voice: str = "en-us+m3", speed: int = 150) -> Pcm:
    """Text spoken by espeak-ng, or by flite for a `flite:NAME` voice (speed: espeak's)."""
    if voice.startswith("flite:"):
        cmd = ["flite", "-voice", voice.removeprefix("flite:"), "-t", text, "-o", "/dev/stdout"]
    else:
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", "--", text]
    done = subprocess.run(cmd, capture_output=True, check=True, timeout=20)
    pcm, rate = wav_pcm(done.stdout)
    return np.asarray(telephone(pcm, rate), dtype=np.int16)


# The callers' two voices. espeak-ng's m3 is one tiny.en mishears: of 24 four-digit
# strings it read 8 right (flite's rms: 23), so with it the bench measured reprompts
# more than turn-taking. `--voices espeak` keeps the old pair for comparison.
VOICES = {"flite": ("flite:rms", "en-us+f2"), "espeak": ("en-us+m3", "en-us+f2")}
# Backchannels (text, first or second voice): flite says "uh-huh" as "that's what I think".
BACKCHANNELS = {"flite": (("okay", 0), ("uh-huh", 1), ("right", 0)),
                "espeak": (("uh-huh", 0), ("yeah", 1), ("mm-hmm", 0))}  # fmt: skip


def trimmed(pcm: Pcm) -> Pcm:
    a, b = speech_span(pcm)
    return pcm[a:b]


def clip(name: str, pcm: Pcm, pauses: tuple[float, ...] = ()) -> Clip:
    lead = np.zeros(RATE // 10, dtype=np.int16)  # 100 ms of line silence either side
    pcm = np.concatenate((lead, pcm, lead))
    onset, end = speech_span(pcm)
    return Clip(name, pcm, onset, end, pauses)


def paused(name: str, words: list[str], pauses: list[float], voice: str) -> Clip:
    """Words spoken one by one with silences inserted between them."""
    parts: list[Pcm] = []
    for i, w in enumerate(words):
        parts.append(trimmed(speak(w, voice)))
        if i < len(pauses):
            parts.append(np.zeros(int(pauses[i] * RATE), dtype=np.int16))
    return clip(name, np.concatenate(parts), tuple(pauses))


def noise_burst(rng: np.random.Generator, ms: int, level: float) -> Pcm:
    """A cough-like burst: noise through a crude band-pass, fast attack and decay."""
    n = RATE * ms // 1000
    x = rng.standard_normal(n + 2)
    x = np.diff(x, 2) * 0.5 + np.convolve(rng.standard_normal(n), np.ones(3) / 3, "same")
    env = np.minimum(1.0, np.arange(n) / (0.01 * RATE)) * np.exp(-np.arange(n) / (0.4 * n))
    out: Pcm = np.clip(x * env * level, -32767, 32767).astype(np.int16)
    return out


@dataclass
class Clips:
    reason: list[Clip]
    digits: list[Clip]
    dob: list[Clip]
    no: list[Clip]
    backchannels: list[Clip]
    noises: list[Clip]


def make_clips(voices: str = "flite") -> Clips:
    v1, v2 = VOICES[voices]
    rng = np.random.default_rng(7)
    digit_sets = [(["four", "five", "six", "seven"], [0.5, 0.8, 0.6], v1),
                  (["two", "nine", "one", "eight"], [0.4, 0.7, 1.0], v2),
                  (["seven", "three", "three", "zero"], [0.9, 0.5, 0.6], v1)]  # fmt: skip
    dob_sets = [(["March fifth", "nineteen ninety"], [0.7], v1),
                (["June tenth,", "nineteen eighty two"], [0.5], v2),
                (["the first of May", "nineteen seventy"], [0.9], v1)]  # fmt: skip
    acks = [clip(f"bc_{t}", trimmed(speak(t, (v1, v2)[v], 170))) for t, v in BACKCHANNELS[voices]]
    speech_level = float(np.sqrt(np.mean(speak("My card was stolen.", v1).astype(float) ** 2)))
    return Clips(
        reason=[
            clip("reason", speak("My card was stolen.", v1)),
            clip("reason", speak("I lost my card.", v2)),
            paused(
                "reason_list", ["I lost my wallet,", "my card,", "and my keys."], [0.6, 0.5], v1
            ),
        ],
        digits=[paused("digits", w, p, v) for w, p, v in digit_sets],
        dob=[paused("dob", w, p, v) for w, p, v in dob_sets],
        no=[clip("no", speak("No, that is not right.", v1)), clip("no", speak("No.", v2))],
        backchannels=[c for c in acks if c.end - c.onset < 0.7 * RATE],
        noises=[
            clip(f"noise{ms}", noise_burst(rng, ms, speech_level * 2.5))
            for ms in (120, 200, 300, 400)
        ],
    )


def asked(text: str) -> str | None:
    """Which of the caller's answers a bot line asks for (None: not a question)."""
    t = text.lower()
    if "how can i help" in t:
        return "reason"
    if "four digits" in t:
        return "digits"
    if "date of birth" in t:
        return "dob"
    if "is that right" in t or "anything else" in t:
        return "no"
    return None


def answer_for(text: str, clips: Clips, n: int) -> Clip | None:
    """What the caller says to a bot line (None: not a question the caller answers)."""
    kind = asked(text)
    if kind is None:
        return None
    pool: list[Clip] = getattr(clips, kind)
    return pool[n % len(pool)]


LONG_PROMPTS = ("how can i help", "key in the last four digits", "thank you for calling acme")


# ---------------------------------------------------------------------- a call


@dataclass
class Turn:
    call: int
    clip: str
    kind: str  # answer | barge | noise | backchannel
    start: float = 0.0  # wall time the clip's first frame left
    onset: float = 0.0
    end: float = 0.0
    pauses: bool = False
    first_packet: float | None = None  # the bot's first packet after the caller's onset
    metrics: pb.TurnMetrics | None = None
    paused_at: float | None = None  # barge-in: last packet before playback paused
    barge_in: bool = False  # the bot discarded its line (barge_in event) in this window
    resumed: bool = False
    endpoint_in_pause: int = 0
    barge_metrics: pb.TurnMetrics | None = None
    finals: list[str] = field(default_factory=list)  # what the bot heard (synthetic speech)
    asked: str | None = None  # what the bot's next question asks for


@dataclass
class Caller:
    """One call: its RTP socket, its outgoing audio, and what came back."""

    index: int
    echo: tuple[float, int] | None  # (gain dB, delay ms)
    rng: random.Random
    clips: Clips
    transport: asyncio.DatagramTransport | None = None
    rtp_port: int = 0
    queue: list[tuple[Clip, Turn]] = field(default_factory=list)
    playing: tuple[Clip, Turn, int] | None = None
    echo_buf: dict[int, npt.NDArray[np.float64]] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)
    events: list[tuple[float, pb.ServerMessage]] = field(default_factory=list)  # this call's
    all_events: list[tuple[float, pb.ServerMessage]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    turns: list[Turn] = field(default_factory=list)
    seq: int = 0
    ended: bool = False
    t0: float = 0.0

    # ------------------------------------------------------------ the wire

    def datagram(self, data: bytes, now: float) -> None:
        if len(data) < 12 or data[1] & 0x7F != 0:
            return
        self.arrivals.append(now)
        if self.echo is not None:
            gain_db, delay_ms = self.echo
            pcm = g711.ulaw_decode(RtpPacket.parse(data).payload).astype(np.float64)
            k = int(np.ceil((now + delay_ms / 1000 - self.t0) / TICK))
            while k in self.echo_buf:  # two packets in one tick: the second plays in the next
                k += 1
            self.echo_buf[k] = pcm * 10 ** (gain_db / 20)

    def next_frame(self, k: int, now: float) -> bytes:
        frame = np.zeros(FRAME, dtype=np.float64)
        if self.playing is None and self.queue:
            c, t = self.queue.pop(0)
            t.start = now
            t.onset, t.end = now + c.onset / RATE, now + c.end / RATE
            self.playing = (c, t, 0)
        if self.playing is not None:
            c, t, pos = self.playing
            part = c.pcm[pos : pos + FRAME].astype(np.float64)
            frame[: part.size] += part
            self.playing = (c, t, pos + FRAME) if pos + FRAME < c.pcm.size else None
        echo = self.echo_buf.pop(k, None)
        if echo is not None:
            frame[: echo.size] += echo[:FRAME]
        for old in [j for j in self.echo_buf if j < k]:
            del self.echo_buf[old]
        pcm = np.clip(frame, -32768, 32767).astype(np.int16)
        self.seq += 1
        pkt = RtpPacket(0, self.seq & 0xFFFF, (self.seq * FRAME) & 0xFFFFFFFF, 0x5000 + self.index,
                        g711.ulaw_encode(pcm))  # fmt: skip
        return pkt.serialize()

    def say(self, c: Clip, kind: str) -> Turn:
        t = Turn(self.index, c.name, kind, pauses=bool(c.pauses))
        self.queue.append((c, t))
        self.turns.append(t)
        return t

    # ------------------------------------------------------------- waiting

    async def wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not pred():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0 or self.ended:
                return pred()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.05))
        return True

    def speech_states(self) -> list[tuple[float, pb.BotSpeech]]:
        return [(at, m.bot_speech) for at, m in self.events if m.HasField("bot_speech")]

    def started(self) -> list[tuple[float, pb.BotSpeech]]:
        return [(at, s) for at, s in self.speech_states()
                if s.state == _STATE.BOT_SPEECH_STATE_STARTED]  # fmt: skip

    def bot_silent(self, now: float, quiet_s: float = 0.4) -> bool:
        states = self.speech_states()
        last = states[-1][1].state if states else None
        quiet = not self.arrivals or now - self.arrivals[-1] >= quiet_s
        return quiet and last in (_STATE.BOT_SPEECH_STATE_FINISHED,
                                  _STATE.BOT_SPEECH_STATE_INTERRUPTED)  # fmt: skip

    def first_arrival_after(self, t: float) -> float | None:
        for a in self.arrivals:
            if a >= t:
                return a
        return None


async def _reader(stream: Any, caller: Caller) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            msg = await stream.read()
        except grpc.aio.AioRpcError:
            break
        if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
            break
        caller.events.append((loop.time(), msg))
        if msg.HasField("call_ended") or msg.HasField("action"):  # a transfer ends it too
            caller.ended = True
        caller.changed.set()
    caller.ended = True
    caller.changed.set()


async def _script(caller: Caller, deadline: float, perturb: bool) -> None:
    """Answer the bot's questions; over long prompts, sometimes talk over it (rotating)."""
    loop = asyncio.get_running_loop()
    handled = 0
    n = caller.index
    asks = itertools.islice(itertools.cycle(["barge", "noise", "none", "backchannel"]), n, None)
    others = itertools.islice(itertools.cycle(["noise", "backchannel"]), n, None)
    while not caller.ended and loop.time() < deadline:
        seen = handled
        if not await caller.wait(lambda: len(caller.started()) > seen, 30):  # noqa: B023
            break
        at, speech = caller.started()[-1]
        handled = len(caller.started())
        text = speech.text
        answer = answer_for(text, caller.clips, n)
        kind = "none"
        if perturb and any(k in text.lower() for k in LONG_PROMPTS):
            kind = next(asks) if answer is not None else next(others)
        if kind != "none":
            await caller.wait(lambda: caller.first_arrival_after(at) is not None, 5)  # noqa: B023
            first = caller.first_arrival_after(at) or loop.time()
            await asyncio.sleep(max(0.0, first + 1.0 - loop.time()))
            if kind == "barge" and answer is not None:
                caller.say(answer, "barge")
                n += 1
                continue
            pool = caller.clips.noises if kind == "noise" else caller.clips.backchannels
            caller.say(caller.rng.choice(pool), kind)
        if answer is None:
            continue
        # Wait for the bot to finish everything it queued, then answer after a short gap.
        ok = await caller.wait(
            lambda: caller.bot_silent(loop.time()) and len(caller.started()) == seen + 1,  # noqa: B023
            30,
        )
        if not ok:
            continue  # a newer line started: answer that one
        await asyncio.sleep(caller.rng.uniform(0.3, 0.8))
        if len(caller.started()) != handled:
            continue
        turn = caller.say(answer, "answer")
        n += 1
        await caller.wait(lambda: 0 < turn.end < loop.time(), 20)  # noqa: B023


def _analyse(caller: Caller) -> None:
    """Match every caller line with the bot packets and events around it."""
    msgs = caller.all_events
    for t in caller.turns:
        if not t.start:
            continue
        t.first_packet = caller.first_arrival_after(t.onset)
        window_end = t.end + 3.0
        for at, m in msgs:
            if at < t.onset or at > window_end + 5:
                continue
            if m.HasField("speech") and m.speech.type == pb.SPEECH_EVENT_TYPE_END and at < t.end:
                t.endpoint_in_pause += 1
            if m.HasField("barge_in") and at <= window_end:
                t.barge_in = True
            if m.HasField("bot_speech") and at <= window_end:
                if m.bot_speech.state == _STATE.BOT_SPEECH_STATE_PAUSED and t.paused_at is None:
                    t.paused_at = _last_before_gap(caller.arrivals, t.onset)
                if m.bot_speech.state == _STATE.BOT_SPEECH_STATE_RESUMED:
                    t.resumed = True
            if m.HasField("transcript") and m.transcript.is_final and at <= window_end:
                t.finals.append(m.transcript.text)
            if (t.kind == "answer" and t.asked is None and at > t.end and m.HasField("bot_speech")
                    and m.bot_speech.state == _STATE.BOT_SPEECH_STATE_STARTED):  # fmt: skip
                t.asked = asked(m.bot_speech.text)
            if (m.HasField("turn_metrics") and t.barge_metrics is None and t.kind != "answer"
                    and m.turn_metrics.barge_in_pause_ms and at <= window_end):  # fmt: skip
                t.barge_metrics = m.turn_metrics
            if (m.HasField("turn_metrics") and t.metrics is None and t.kind in ("answer", "barge")
                    and m.turn_metrics.first_outbound_frame_ms and at >= t.end - 2.0):  # fmt: skip
                t.metrics = m.turn_metrics


def _last_before_gap(arrivals: list[float], onset: float, gap: float = 0.06) -> float | None:
    """The last packet after `onset` that the next one follows only after `gap` (or none)."""
    prev: float | None = None
    for a in arrivals:
        if a < onset:
            prev = a
            continue
        if prev is not None and a - prev > gap:
            return prev
        prev = a
    return prev


# ------------------------------------------------------------------ one phase


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.caller.datagram(data, asyncio.get_running_loop().time())


def _protocol(c: Caller) -> Callable[[], _Proto]:
    return lambda: _Proto(c)


def _work_jobs(grpc_port: int) -> dict[str, float]:
    """The server's finished and shed worker jobs by lane, from /metrics (next port up)."""
    url = f"http://127.0.0.1:{grpc_port + 1}/metrics"
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
            for kind in ("jobs", "shed"):
                prefix = f'callbot_work_{kind}_total{{lane="'
                if line.startswith(prefix):
                    lane = line[len(prefix) :].split('"', 1)[0]
                    out[f"{lane}_{kind}"] = float(line.rsplit(" ", 1)[1])
    return out


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _call(stub: Any, caller: Caller, deadline: float, perturb: bool) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < deadline - 10:
        stream = stub.Converse()
        call_id = f"turns-{caller.index}-{int(loop.time() * 1000)}"
        await stream.write(pb.ClientMessage(start=pb.CallStart(
            call_id=call_id, media_mode=pb.MEDIA_MODE_RTP, codec=pb.CODEC_PCMU,
            sample_rate_hz=RATE, flow="lost_card_en", language="en")))  # fmt: skip
        msg = cast(pb.ServerMessage, await stream.read())
        if not msg.HasField("accepted"):
            raise RuntimeError(f"call refused: {msg}")
        caller.rtp_port = msg.accepted.local_rtp.port
        caller.ended = False
        caller.events = []
        reader = asyncio.create_task(_reader(stream, caller))
        try:
            await _script(caller, deadline, perturb)
        finally:
            with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
                await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
                await stream.done_writing()
            await asyncio.wait_for(reader, 10)
            caller.rtp_port = 0
            caller.all_events += caller.events


async def run_phase(grpc_port: int, server_pid: int, clips: Clips, *, calls: int, seconds: float,
                    echo: list[tuple[float, int] | None], perturb: bool,
                    stagger_s: float = 6.0) -> dict[str, Any]:  # fmt: skip
    loop = asyncio.get_running_loop()
    callers = [Caller(i, echo[i % len(echo)], random.Random(i), clips) for i in range(calls)]
    t0 = loop.time() + 0.1
    for c in callers:
        c.t0 = t0
        c.transport, _ = await loop.create_datagram_endpoint(
            _protocol(c), local_addr=("127.0.0.1", 0))  # fmt: skip
    stop = False

    async def ticker() -> None:
        k = 0
        while not stop:
            due = t0 + k * TICK
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            for c in callers:
                if c.rtp_port and c.transport is not None:
                    c.transport.sendto(c.next_frame(k, now), ("127.0.0.1", c.rtp_port))
            k += 1

    jobs0 = await asyncio.to_thread(_work_jobs, grpc_port)
    cpu_server0, cpu_gen0, wall0 = _cpu(server_pid), _cpu(os.getpid()), time.monotonic()
    tick = asyncio.create_task(ticker())
    deadline = t0 + seconds
    async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.CallbotStub(channel)

        async def staggered(c: Caller) -> None:
            await asyncio.sleep(c.index * stagger_s / max(1, calls))
            await _call(stub, c, deadline, perturb)

        await asyncio.gather(*(staggered(c) for c in callers))
    stop = True
    await tick
    elapsed = time.monotonic() - wall0
    server_cpu, gen_cpu = _cpu(server_pid) - cpu_server0, _cpu(os.getpid()) - cpu_gen0
    jobs1 = await asyncio.to_thread(_work_jobs, grpc_port)
    # Decodes (final + speculative in `final`, with later TTS pieces; partials), TTS first
    # pieces (`front`): where the worker threads' time went in this phase.
    jobs = {k: round(v - jobs0.get(k, 0.0)) for k, v in sorted(jobs1.items())}
    unexplained = paused_total = 0
    for c in callers:
        _analyse(c)
        unexplained += unexplained_pauses(c.turns, c.all_events)
        paused_total += sum(1 for _, m in c.all_events if m.HasField("bot_speech")
                            and m.bot_speech.state == _STATE.BOT_SPEECH_STATE_PAUSED)  # fmt: skip
        if c.transport is not None:
            c.transport.close()
    return summarize([t for c in callers for t in c.turns], calls=calls, seconds=round(elapsed),
                     server_core=server_cpu / elapsed, generator_core=gen_cpu / elapsed,
                     echo=list(echo), pauses_with_no_caller_sound=unexplained, worker_jobs=jobs,
                     # With perturb off (the echo runs) the caller never talks over the
                     # bot, so every pause there is a false one, near a caller line or not.
                     bot_pauses=paused_total)  # fmt: skip


# ------------------------------------------------------------------ figures


def _pct(xs: list[float], q: float) -> float | None:
    return round(float(np.percentile(xs, q)), 1) if xs else None


def _turn_row(t: Turn) -> dict[str, Any]:
    """One answer: which clip, its voice-to-voice and endpoint wait, what the bot heard."""
    m = t.metrics
    return {
        "clip": t.clip,
        "v2v_ms": None if t.first_packet is None else round((t.first_packet - t.end) * 1000),
        "endpoint_ms": m.endpoint_ms - m.speech_end_ms if m and m.speech_end_ms else None,
        "heard": t.finals,
        "asked_again": _asked_again(t),
    }


def summarize(turns: list[Turn], **info: Any) -> dict[str, Any]:
    answers = [t for t in turns if t.kind == "answer" and t.start]
    premature = [t for t in answers if t.first_packet is not None and t.first_packet < t.end]
    timed = [t for t in answers if t.first_packet is not None and t.first_packet >= t.end]
    v2v = [(t.first_packet - t.end) * 1000 for t in timed if t.first_packet is not None]
    breakdown: dict[str, list[float]] = {k: [] for k in (
        "endpoint", "final_transcript", "dialog_decision", "first_tts_audio",
        "first_outbound_frame", "server_voice_to_voice")}  # fmt: skip
    for t in timed:
        m = t.metrics
        if m is None or not m.speech_end_ms:
            continue
        marks = [m.speech_end_ms, m.endpoint_ms, m.final_transcript_ms, m.dialog_decision_ms,
                 m.first_tts_audio_ms, m.first_outbound_frame_ms]  # fmt: skip
        for key, a, b in zip(list(breakdown)[:5], marks[:-1], marks[1:], strict=True):
            if a and b:
                breakdown[key].append(b - a)
        breakdown["server_voice_to_voice"].append(m.first_outbound_frame_ms - m.speech_end_ms)
    paused_set = [t for t in answers if t.pauses]
    barges = [t for t in turns if t.kind == "barge" and t.start]
    barge_ms = [(t.paused_at - t.onset) * 1000 for t in barges if t.paused_at is not None]
    server_barge = [float(m.barge_in_pause_ms - m.barge_in_onset_ms)
                    for m in (t.barge_metrics for t in barges) if m is not None]  # fmt: skip
    noise = [t for t in turns if t.kind == "noise" and t.start]
    bcs = [t for t in turns if t.kind == "backchannel" and t.start]
    return {
        **info,
        "caller_turns": len(answers),
        "voice_to_voice_ms": {
            "n": len(v2v),
            "p50": _pct(v2v, 50),
            "p95": _pct(v2v, 95),
            "max": _pct(v2v, 100),
        },
        "voice_to_voice_fluent_ms": _p(
            [(t.first_packet or 0) - t.end for t in timed if not t.pauses]
        ),
        "voice_to_voice_paused_ms": _p([(t.first_packet or 0) - t.end for t in timed if t.pauses]),
        # Asked again: the bot's next question wants the same answer (a misheard clip
        # that waited out the ask's whole silence, then a reprompt).
        "voice_to_voice_understood_ms": _p(
            [(t.first_packet or 0) - t.end for t in timed if not _asked_again(t)]
        ),
        "voice_to_voice_asked_again_ms": _p(
            [(t.first_packet or 0) - t.end for t in timed if _asked_again(t)]
        ),
        "breakdown_p50_ms": {k: _pct(v, 50) for k, v in breakdown.items()},
        "breakdown_p95_ms": {k: _pct(v, 95) for k, v in breakdown.items()},
        "answers": [_turn_row(t) for t in answers],
        "no_answer": len([t for t in answers if t.first_packet is None]),
        "paused_utterances": len(paused_set),
        "answered_inside_a_pause": len([t for t in premature if t.pauses]),
        "answered_before_speech_end_fluent": len([t for t in premature if not t.pauses]),
        "endpoints_inside_a_pause": sum(t.endpoint_in_pause > 0 for t in paused_set),
        "barge_ins": len(barges),
        "barge_in_pause_ms": {
            "n": len(barge_ms),
            "p50": _pct(barge_ms, 50),
            "p95": _pct(barge_ms, 95),
            "max": _pct(barge_ms, 100),
        },
        "barge_in_pause_server_ms": {"p50": _pct(server_barge, 50), "p95": _pct(server_barge, 95)},
        "barge_ins_not_paused": len([t for t in barges if t.paused_at is None]),
        "noise_bursts": len(noise),
        "noise_paused": len([t for t in noise if t.paused_at is not None]),
        "noise_false_barge_ins": len([t for t in noise if t.barge_in]),
        "backchannels": len(bcs),
        "backchannels_resumed": len([t for t in bcs if t.resumed]),
        "backchannels_ended_bot_turn": len([t for t in bcs if t.barge_in]),
        "backchannel_finals": sorted({f for t in bcs for f in t.finals}),
        "noise_finals": sorted({f for t in noise for f in t.finals}),
    }


def _asked_again(t: Turn) -> bool:
    return t.asked is not None and t.asked == asked_by(t.clip)


def asked_by(clip: str) -> str:
    """The question a clip answers ("reason_list" answers "reason")."""
    return clip.split("_", 1)[0]


def _p(xs: list[float]) -> dict[str, float | None]:
    ms = [x * 1000 for x in xs]
    return {"n": len(ms), "p50": _pct(ms, 50), "p95": _pct(ms, 95)}


def unexplained_pauses(phase_turns: list[Turn], events: list[tuple[float, pb.ServerMessage]],
                       ) -> int:  # fmt: skip
    """Pauses or barge-ins with no caller sound (speech, noise) anywhere near them."""
    windows = [(t.onset - 0.2, t.end + 2.0) for t in phase_turns if t.start]
    count = 0
    for at, m in events:
        paused = m.HasField("bot_speech") and m.bot_speech.state == _STATE.BOT_SPEECH_STATE_PAUSED
        if (paused or m.HasField("barge_in")) and not any(a <= at <= b for a, b in windows):
            count += 1
    return count


# -------------------------------------------------------------------- driver


def _line(name: str, r: dict[str, Any]) -> str:
    v, b = r["voice_to_voice_ms"], r["breakdown_p50_ms"]
    u, a = r["voice_to_voice_understood_ms"], r["voice_to_voice_asked_again_ms"]
    return (f"{name}: {r['calls']} calls, {r['caller_turns']} turns  v2v p50 {v['p50']} ms "
            f"p95 {v['p95']} ms (understood: n {u['n']} p50 {u['p50']} p95 {u['p95']}; "
            f"asked again: n {a['n']} p50 {a['p50']})  [p50 endpoint {b['endpoint']} "
            f"final {b['final_transcript']} dialog {b['dialog_decision']} "
            f"tts {b['first_tts_audio']} out {b['first_outbound_frame']}]  "
            f"paused utts {r['paused_utterances']} answered in "
            f"pause {r['answered_inside_a_pause']}  barge p95 {r['barge_in_pause_ms']['p95']} ms "
            f"(n {r['barge_in_pause_ms']['n']})  noise false {r['noise_false_barge_ins']}/"
            f"{r['noise_bursts']}  backchannel ended {r['backchannels_ended_bot_turn']}/"
            f"{r['backchannels']}  server {r['server_core'] * 100:.0f}% gen "
            f"{r['generator_core'] * 100:.1f}% of a core  "
            f"worker jobs {r['worker_jobs']}")  # fmt: skip


async def _phases(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    clips = make_clips(args.voices)
    q = args.quick
    out: dict[str, Any] = {}
    if args.only == "capacity":
        out["capacity"] = await _capacity(args, port, pid, clips)
        return out
    if args.only != "echo":
        out["one_call"] = await run_phase(port, pid, clips, calls=1, seconds=60 if q else 150,
                                          echo=[None], perturb=True)  # fmt: skip
        print(_line("1 call", out["one_call"]), flush=True)
    # Echo: two calls with the bot's audio looped back, no perturbations (the caller only
    # answers), so any pause or barge-in away from a caller line is the echo's doing.
    echo_runs: dict[str, Any] = {}
    for gain, delay in ((-6.0, 80), (0.0, 20)):
        r = await run_phase(port, pid, clips, calls=1, seconds=35 if q else 60,
                            echo=[(gain, delay)], perturb=False)  # fmt: skip
        echo_runs[f"{gain:g}dB_{delay}ms"] = r
        print(
            f"echo {gain:g} dB / {delay} ms: false pauses/barge-ins "
            f"{r['pauses_with_no_caller_sound']} away from caller lines, bot paused "
            f"{r['bot_pauses']} times in all  {_line('', r)}",
            flush=True,
        )
    out["echo"] = echo_runs
    if args.only == "echo":
        return out
    out["capacity"] = await _capacity(args, port, pid, clips)
    passed = [r["calls"] for r in out["capacity"] if r["pass_1_2s"]]
    out["max_calls_p95_under_1_2s"] = max(passed) if passed else 0
    return out


async def _capacity(args: argparse.Namespace, port: int, pid: int, clips: Clips
                    ) -> list[dict[str, Any]]:  # fmt: skip
    q = args.quick
    steps = [int(s) for s in args.steps.split(",")]
    capacity = []
    for n in steps:
        r = await run_phase(
            port, pid, clips, calls=n, seconds=45 if q else 90, echo=[None], perturb=True
        )
        r["pass_1_2s"] = r["voice_to_voice_ms"]["p95"] is not None and \
            r["voice_to_voice_ms"]["p95"] <= 1200  # fmt: skip
        capacity.append(r)
        print(_line(f"{n} calls", r), flush=True)
        if not r["pass_1_2s"]:
            break
    return capacity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (~5 minutes)")
    parser.add_argument(
        "--steps", default="8,10,12,14,16", help="concurrent calls to try, in order"
    )
    parser.add_argument("--port", type=int, default=50081)
    parser.add_argument(
        "--voices",
        choices=sorted(VOICES),
        default="flite",
        help="the callers' voices: flite rms + espeak-ng f2, or espeak-ng only "
        "(results go to turns[_<phase>]_espeak.json)",
    )
    parser.add_argument("--only", choices=("echo", "capacity"),
                        help="one phase alone (results go to turns_<phase>.json)")  # fmt: skip
    args = parser.parse_args()
    env = dict(os.environ)
    env.update(CALLBOT_GRPC_ADDRESS=f"127.0.0.1:{args.port}",
               CALLBOT_METRICS_ADDRESS=f"127.0.0.1:{args.port + 1}",
               CALLBOT_STT_LANGUAGES="en", CALLBOT_DEFAULT_FLOW="lost_card_en",
               CALLBOT_RTP_PORT_MIN="31000", CALLBOT_RTP_PORT_MAX="31999",
               CALLBOT_RECORDS_DIR="/tmp/callbot-bench-turns/records",
               CALLBOT_RECORDINGS_DIR="/tmp/callbot-bench-turns/recordings",
               CALLBOT_LOG_LEVEL="WARNING")  # fmt: skip
    settings = Settings.load(env=env)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "callbot.cli", "serve"], env=env)
    try:
        asyncio.run(wait_serving(args.port))
        load = os.getloadavg()
        results = asyncio.run(_phases(args, args.port, proc.pid))
    finally:
        proc.terminate()
        proc.wait(30)
    results["threads"] = {"stt_workers": settings.stt_workers, "whisper_cpu_threads": 1,
                          "piper_onnx_threads": 1, "silero_onnx_threads": 1,
                          "cpus": os.cpu_count()}  # fmt: skip
    results["loadavg_at_start"] = [round(x, 2) for x in load]
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["quick"] = args.quick
    results["caller_voices"] = list(VOICES[args.voices])
    results["wall_s"] = round(time.monotonic() - started, 1)
    results["command"] = " ".join(["python -m bench.turns", *sys.argv[1:]])
    parts = [p for p in (args.only, args.voices if args.voices != "flite" else None) if p]
    path = RESULTS.with_name(f"turns_{'_'.join(parts)}.json") if parts else RESULTS
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
