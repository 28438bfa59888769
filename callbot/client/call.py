"""`callbot call`: place a call to a running bot and show the conversation live."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from callbot.client.audio import CallerAudioError, load_wav, save_stereo, say
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


class _Leg:
    """The caller's media: frames out, bot frames in."""

    def __init__(self) -> None:
        self.bot: list[Pcm] = []
        self.ack: str = ""  # newest mark played, sent by the writer (one writer per stream)

    def take_bot(self) -> Pcm:
        if not self.bot:
            return np.zeros(FRAME, dtype=np.int16)
        return self.bot.pop(0)


class _RtpLeg(_Leg):
    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.remote = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1" if host.startswith("127.") else "0.0.0.0", 0))
        self.sock.setblocking(False)
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


class _Printer:
    """Prints the conversation as it happens; tracks whether the bot is speaking."""

    def __init__(self) -> None:
        self.speaking: set[str] = set()
        self.last_bot_activity = 0.0
        self.bot_lines = 0
        self.ended: str | None = None

    def show(self, msg: pb.ServerMessage, now: float) -> None:
        kind = msg.WhichOneof("message")
        t = f"[{msg.media_time_ms / 1000:7.2f}s]"
        if kind == "transcript" and msg.transcript.is_final:
            print(f"{t} caller: {msg.transcript.text}")
        elif kind == "bot_speech":
            state = msg.bot_speech.state
            uid = msg.bot_speech.utterance_id
            if state == pb.BOT_SPEECH_STATE_STARTED:
                self.speaking.add(uid)
                self.bot_lines += 1
                print(f"{t} bot:    {msg.bot_speech.text}")
            elif state in (pb.BOT_SPEECH_STATE_FINISHED, pb.BOT_SPEECH_STATE_INTERRUPTED):
                self.speaking.discard(uid)
            self.last_bot_activity = now
        elif kind == "barge_in":
            heard = msg.barge_in.heard_text
            print(f"{t} barge-in after {msg.barge_in.played_ms} ms; caller heard: {heard!r}")
        elif kind == "dtmf":
            print(f"{t} dtmf:   {msg.dtmf.digit}")
        elif kind == "action":
            print(f"{t} action: {msg.action.WhichOneof('action')} {_action_text(msg.action)}")
        elif kind == "turn_metrics":
            m = msg.turn_metrics
            end = m.speech_end_ms
            if end and m.first_outbound_frame_ms:
                print(
                    f"{t} latency: voice-to-voice {m.first_outbound_frame_ms - end} ms "
                    f"(after speech end: endpoint {m.endpoint_ms - end}, final "
                    f"{m.final_transcript_ms - end}, decision {m.dialog_decision_ms - end}, "
                    f"first audio {m.first_tts_audio_ms - end})"
                )
        elif kind == "error":
            print(f"{t} error:  {msg.error.message}")
        elif kind == "call_ended":
            self.ended = pb.EndReason.Name(msg.call_ended.reason)
            print(f"{t} call ended: {self.ended}")


def _action_text(action: pb.Action) -> str:
    which = action.WhichOneof("action")
    if which == "transfer":
        return action.transfer.target
    if which == "send_dtmf":
        return "(digits)"
    return action.hangup.reason if which == "hangup" else ""


async def run(args: argparse.Namespace, lines: list[Pcm]) -> int:
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
        printer = _Printer()
        caller_track: list[Pcm] = []
        bot_track: list[Pcm] = []
        reader = asyncio.get_running_loop().create_task(_read(stream, leg, printer))
        try:
            await _talk(stream, leg, printer, lines, caller_track, bot_track, args.rtp)
        finally:
            reader.cancel()
        if args.out:
            save_stereo(
                Path(args.out), np.concatenate(caller_track), np.concatenate(bot_track), RATE
            )
            print(f"both legs saved to {args.out} (caller left, bot right)")
    return 0


async def _read(stream: Any, leg: _Leg, printer: _Printer) -> None:
    loop = asyncio.get_running_loop()
    while True:
        msg = await stream.read()
        if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
            if printer.ended is None:
                printer.ended = "STREAM_CLOSED"
            return
        if msg.HasField("audio"):
            leg.bot.append(g711.ulaw_decode(msg.audio.audio))
            leg.ack = msg.audio.mark_id
        elif msg.HasField("clear_audio"):
            leg.bot.clear()
        else:
            printer.show(msg, loop.time())


async def _talk(  # noqa: PLR0917 - one call's whole media timeline
    stream: Any,
    leg: _Leg,
    printer: _Printer,
    lines: list[Pcm],
    caller_track: list[Pcm],
    bot_track: list[Pcm],
    rtp: bool,
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    queue = list(lines)
    speaking: Pcm | None = None
    pos = 0
    waited_since = start
    done_at: float | None = None
    while printer.ended is None:
        now = loop.time()
        # A caller waits for the greeting to end (the echo flow has none). _IDLE_S
        # covers the audio the server sends ahead of playout in GRPC mode.
        bot_idle = (
            (printer.bot_lines > 0 or now - start > _GREETING_WAIT_S)
            and not printer.speaking
            and now - printer.last_bot_activity > _IDLE_S
        )
        if speaking is None and queue and (bot_idle or now - waited_since > _MAX_WAIT_S):
            speaking, pos = queue.pop(0), 0
        if speaking is not None:
            frame = np.zeros(FRAME, dtype=np.int16)
            chunk = speaking[pos : pos + FRAME]
            frame[: chunk.size] = chunk
            pos += FRAME
            if pos >= speaking.size:
                speaking, waited_since = None, now
        else:
            frame = np.zeros(FRAME, dtype=np.int16)
        if not queue and speaking is None and done_at is None:
            done_at = now
        if done_at is not None and now - done_at > _IDLE_S and bot_idle and now - done_at > 3:
            break
        if rtp:
            assert isinstance(leg, _RtpLeg)
            leg.send(frame)
        else:
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=g711.ulaw_encode(frame))))
            if leg.ack and tick % 5 == 0:
                await stream.write(pb.ClientMessage(playback_mark=pb.PlaybackMark(mark_id=leg.ack)))
        caller_track.append(frame)
        bot_track.append(leg.take_bot())
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK_S - loop.time()))
    if printer.ended is None:
        await stream.write(pb.ClientMessage(hangup=pb.Hangup(reason="caller done")))
        await stream.done_writing()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callbot call", description=__doc__)
    media = parser.add_mutually_exclusive_group()
    media.add_argument("--grpc", action="store_true", help="audio inside the gRPC stream (default)")
    media.add_argument("--rtp", action="store_true", help="audio as RTP to the bot's port")
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
