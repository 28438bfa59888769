"""`callbot call`: place a call to a running bot and show the conversation live."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from callbot.client.audio import CallerAudioError, load_wav, save_stereo, say
from callbot.client.printer import AudioWatch, Printer, speech_end, stamp
from callbot.client.sip import SipCaller, SipCallError, local_host_for
from callbot.media import g711
from callbot.media.g711 import Pcm
from callbot.media.rtp import RtpPacket
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

RATE = 8000
FRAME = 160
TICK_S = 0.02
# The caller speaks once the bot has been quiet this long (or never spoke).
_IDLE_S = 0.8
_MAX_WAIT_S = 20.0
_GREETING_WAIT_S = 2.0
_REPLY_WAIT_S = 10.0  # a caller waits this long for the bot to react to a line


class _Leg:
    """The caller's media: frames out, bot frames in."""

    def __init__(self) -> None:
        self.bot: list[Pcm] = []
        self.marks: list[str] = []  # GRPC: each buffered bot frame's playback mark
        self.ack: str = ""  # newest mark played, sent by the writer (one writer per stream)
        self.acked: str = ""  # the last mark the writer sent

    def take_bot(self) -> Pcm:
        if not self.bot:
            return np.zeros(FRAME, dtype=np.int16)
        if self.marks:
            self.ack = self.marks.pop(0)
        return self.bot.pop(0)


class _RtpLeg(_Leg):
    def __init__(self, host: str, port: int, bind: str = "") -> None:
        super().__init__()
        self.remote = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind or ("127.0.0.1" if host.startswith("127.") else "0.0.0.0"), 0))
        self.sock.setblocking(False)
        self.local_port = int(self.sock.getsockname()[1])
        self.seq = secrets.randbits(16)
        self.ts = secrets.randbits(32)
        self.ssrc = secrets.randbits(32)

    def send(self, pcm: Pcm) -> None:
        header = struct.pack("!BBHII", 0x80, 0, self.seq, self.ts, self.ssrc)
        self.sock.sendto(header + g711.ulaw_encode(pcm), self.remote)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + FRAME) & 0xFFFFFFFF
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            try:
                packet = RtpPacket.parse(data)
            except ValueError:
                continue
            if packet.payload_type == 0:
                self.bot.append(g711.ulaw_decode(packet.payload))


async def run(args: argparse.Namespace, lines: list[Pcm]) -> int:
    if args.sip:
        return await _run_sip(args, lines)
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else None
    async with grpc.aio.insecure_channel(args.address) as channel:
        stub = pb_grpc.CallbotStub(channel)
        stream: Any = stub.Converse(metadata=metadata)  # type: ignore[call-arg]
        mode = pb.MEDIA_MODE_RTP if args.rtp else pb.MEDIA_MODE_GRPC
        await stream.write(
            pb.ClientMessage(
                start=pb.CallStart(
                    call_id=args.call_id or f"cli-{secrets.token_hex(4)}",
                    media_mode=mode,
                    codec=pb.CODEC_PCMU,
                    sample_rate_hz=RATE,
                    flow=args.flow,
                    language=args.language,
                )
            )
        )
        first = await stream.read()
        if first is grpc.aio.EOF or not first.HasField("accepted"):  # type: ignore[attr-defined]
            print(f"call refused: {first}", file=sys.stderr)
            return 1
        accepted = first.accepted
        print(f"call {accepted.call_id} accepted: flow {accepted.flow}, {args.address}")
        leg: _Leg = (
            _RtpLeg(accepted.local_rtp.host, accepted.local_rtp.port) if args.rtp else _Leg()
        )
        printer = Printer()

        async def send(frame: Pcm) -> None:
            if isinstance(leg, _RtpLeg):
                leg.send(frame)
                return
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=g711.ulaw_encode(frame))))
            if leg.ack != leg.acked:  # what the caller heard: a pause drops only the rest
                leg.acked = leg.ack
                await stream.write(pb.ClientMessage(playback_mark=pb.PlaybackMark(mark_id=leg.ack)))

        reader = asyncio.get_running_loop().create_task(_read(stream, leg, printer))
        try:
            tracks = await _talk(leg, printer, lines, send)
        finally:
            reader.cancel()
        if printer.ended is None:
            await stream.write(pb.ClientMessage(hangup=pb.Hangup(reason="caller done")))
            await stream.done_writing()
    _save(args.out, tracks)
    return 0


async def _run_sip(args: argparse.Namespace, lines: list[Pcm]) -> int:
    """The same caller over SIP: INVITE, RTP both ways, BYE. The bot's events stay
    on its side (call record, exports), so bot lines are heard in its audio."""
    host, _, port = args.sip.rpartition(":")
    local = local_host_for(host)
    caller = SipCaller(host, int(port), local)
    printer = Printer()
    leg = _RtpLeg(host, 0, bind=local)
    loop = asyncio.get_running_loop()
    start = loop.time()

    def bye() -> None:
        printer.ended = "BOT_HANGUP"
        print(f"{stamp(loop.time() - start)} call ended: the bot hung up (BYE)")

    caller.on_bye = bye
    caller.on_refer = lambda target: print(
        f"{stamp(loop.time() - start)} action: transfer {target}"
    )
    caller.on_progress = lambda status, reason: print(f"SIP {status} {reason}")
    await caller.open()
    try:
        try:
            answered = await caller.invite(leg.local_port)
        except SipCallError as exc:
            print(f"call refused: {exc}", file=sys.stderr)
            return 1
        leg.remote = (answered.host, answered.port)
        print(
            f"call {caller.call_id} answered over SIP: bot media at {answered.host}:{answered.port}"
        )

        async def send(frame: Pcm) -> None:
            leg.send(frame)

        tracks = await _talk(leg, printer, lines, send, AudioWatch(printer, loop.time()))
        if printer.ended is None:
            await caller.bye()
            print(f"{stamp(loop.time() - start)} call ended: caller hung up (BYE)")
    finally:
        caller.close()
        leg.sock.close()
    _save(args.out, tracks)
    return 0


def _save(out: str, tracks: tuple[list[Pcm], list[Pcm]]) -> None:
    if out:
        caller, bot = tracks
        save_stereo(Path(out), np.concatenate(caller), np.concatenate(bot), RATE)
        print(f"both legs saved to {out} (caller left, bot right)")


async def _read(stream: Any, leg: _Leg, printer: Printer) -> None:
    loop = asyncio.get_running_loop()
    while True:
        msg = await stream.read()
        if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
            if printer.ended is None:
                printer.ended = "STREAM_CLOSED"
            return
        if msg.HasField("audio"):
            leg.bot.append(g711.ulaw_decode(msg.audio.audio))
            leg.marks.append(msg.audio.mark_id)
        elif msg.HasField("clear_audio"):
            leg.bot.clear()
            leg.marks.clear()
        else:
            printer.show(msg, loop.time())


async def _talk(
    leg: _Leg,
    printer: Printer,
    lines: list[Pcm],
    send: Callable[[Pcm], Awaitable[None]],
    watch: AudioWatch | None = None,
) -> tuple[list[Pcm], list[Pcm]]:
    """The caller's media timeline, one frame per tick; returns both legs' audio."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    queue = list(lines)
    speaking: Pcm | None = None
    pos = 0
    waited_since = start
    line_end: float | None = None  # when the caller's last line ended
    done_at: float | None = None
    caller_track: list[Pcm] = []
    bot_track: list[Pcm] = []
    while printer.ended is None:
        now = loop.time()
        # A caller waits for the greeting to end (the echo flow has none). _IDLE_S
        # covers the audio the server sends ahead of playout in GRPC mode.
        bot_idle = (
            (printer.bot_lines > 0 or now - start > _GREETING_WAIT_S)
            and not printer.speaking
            and now - printer.last_bot_activity > _IDLE_S
        )
        # The next line waits for the bot's answer to the last one, not just for quiet.
        answered = (
            line_end is None
            or printer.last_bot_activity > line_end
            or (now - line_end > _REPLY_WAIT_S)
        )
        if (
            speaking is None
            and queue
            and ((bot_idle and answered) or now - waited_since > _MAX_WAIT_S)
        ):
            speaking, pos = queue.pop(0), 0
            if watch is not None:
                watch.caller_speech_end = now + speech_end(speaking, RATE)
        frame = np.zeros(FRAME, dtype=np.int16)
        if speaking is not None:
            chunk = speaking[pos : pos + FRAME]
            frame[: chunk.size] = chunk
            pos += FRAME
            if pos >= speaking.size:
                speaking, waited_since, line_end = None, now, now
        if not queue and speaking is None and done_at is None:
            done_at = now
        if done_at is not None and now - done_at > _IDLE_S and bot_idle and now - done_at > 3:
            break
        await send(frame)
        bot = leg.take_bot()
        if watch is not None:
            watch.bot_frame(bot, now)
        caller_track.append(frame)
        bot_track.append(bot)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK_S - loop.time()))
    return caller_track, bot_track


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callbot call", description=__doc__)
    media = parser.add_mutually_exclusive_group()
    media.add_argument("--grpc", action="store_true", help="audio inside the gRPC stream (default)")
    media.add_argument("--rtp", action="store_true", help="audio as RTP to the bot's port")
    media.add_argument(
        "--sip",
        nargs="?",
        const="127.0.0.1:5060",
        metavar="HOST:PORT",
        help="call the bot's SIP front door (default 127.0.0.1:5060); RTP media",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--wav", nargs="+", type=Path, help="caller lines as WAV files")
    what.add_argument("--say", nargs="+", help="caller lines as text (espeak-ng)")
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--flow", default="", help="flow name (server default if empty)")
    parser.add_argument("--language", default="")
    parser.add_argument("--call-id", default="")
    parser.add_argument("--token", default="", help="bearer token, if the server needs one")
    parser.add_argument("--out", default="call.wav", help="stereo WAV of both legs ('' = none)")
    args = parser.parse_args(list(argv))
    try:
        if args.wav:
            lines = [load_wav(p, RATE) for p in args.wav]
        else:
            voice = "ko" if args.language == "ko" else "en-us+m3"
            lines = [say(text, RATE, voice) for text in args.say]
    except CallerAudioError as exc:
        print(f"callbot call: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args, lines))
    except grpc.aio.AioRpcError as exc:
        print(f"callbot call: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
