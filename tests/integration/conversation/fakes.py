"""A fake call for the conversation: media clock, manual pacer, captured events."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import cast

import numpy as np

from callbot.media.codec import AudioCodec, CodecName
from callbot.media.g711 import Pcm
from callbot.media.outbound import OutboundAudio, OutFrame
from callbot.media.pacer import PacedStream, Pacer
from callbot.record import CallRecord
from callbot.stt.feed import telephone
from callbot.tts.espeak_voice import wav_pcm
from callbot.v1 import callbot_pb2 as pb

RATE = 8000
FRAME = 160
SILENT = np.zeros(FRAME, dtype=np.int16)


class ManualPacer:
    """Sends one frame per inbound frame: the outbound clock is the media clock."""

    def __init__(self) -> None:
        self.active: set[int] = set()

    def activate(self, stream: PacedStream, lead_s: float = 0.0) -> None:
        self.active.add(id(stream))

    def deactivate(self, stream: PacedStream) -> None:
        self.active.discard(id(stream))

    def is_active(self, stream: PacedStream) -> bool:
        return id(stream) in self.active


class FakePort:
    """A CallPort over 8 kHz µ-law with a virtual media clock driven by `feed()`."""

    def __init__(self) -> None:
        self.record = CallRecord("c1", "t", "s", "rtp", "pcmu", RATE, 20, "en", "lost_card_en", "")
        self._pacer = ManualPacer()
        self.frames: list[tuple[int, OutFrame]] = []
        self.outbound: OutboundAudio | None = OutboundAudio(
            cast(Pacer, self._pacer), AudioCodec(CodecName.PCMU), RATE, 20,
            lambda f: self.frames.append((self.media_time_ms, f)),
        )  # fmt: skip
        self.samples = 0
        self.messages: list[pb.ServerMessage] = []
        self.ended: tuple[int, str] | None = None
        self.recording_paused = False
        self.echo: tuple[float, int] | None = None  # (gain, delay frames): bot audio comes back
        self._line: list[Pcm] = []  # what the bot sent at each tick (silence when nothing)

    @property
    def media_time_ms(self) -> int:
        return self.samples * 1000 // RATE

    def send(self, msg: pb.ServerMessage) -> None:
        msg.media_time_ms = self.media_time_ms
        self.messages.append(msg)

    def clear_outbound(self) -> int:
        return self.outbound.clear() if self.outbound is not None else 0

    def pause_outbound(self) -> None:  # an RTP-like line: nothing is buffered past it
        if self.outbound is not None:
            self.outbound.pause()

    def resume_outbound(self) -> None:
        if self.outbound is not None:
            self.outbound.resume()

    def end(self, reason: pb.EndReason.ValueType, detail: str = "") -> None:
        if self.ended is None:
            self.ended = (reason, detail)

    def send_dtmf(self, digits: str) -> bool:
        return True

    def pause_recording(self) -> None:
        self.recording_paused = True

    def resume_recording(self) -> None:
        self.recording_paused = False

    def of(self, kind: str) -> list[pb.ServerMessage]:
        return [m for m in self.messages if m.WhichOneof("message") == kind]

    def bot_speaking(self) -> bool:
        out = self.outbound
        return out is not None and (out.queued_frames > 0 or self._pacer.is_active(out))


async def feed(
    port: FakePort, on_audio: Callable[[Pcm], None], pcm: Pcm, speed: float = 4.0
) -> None:
    """Caller audio frame by frame; one outbound frame leaves per inbound frame.

    With `port.echo` set, the bot's frames come back mixed into the caller's
    audio, `gain` times as loud and `delay` frames late (a hybrid or a mixed fork).
    """
    for i in range(0, pcm.size - FRAME + 1, FRAME):
        frame = pcm[i : i + FRAME]
        out = port.outbound
        sent = len(port.frames)
        if out is not None and port._pacer.is_active(out) and not out.emit_next():
            port._pacer.deactivate(out)
        if port.echo is not None:
            gain, delay = port.echo
            port._line.append(port.frames[-1][1].pcm if len(port.frames) > sent else SILENT)
            if len(port._line) > delay:
                back = port._line[-1 - delay].astype(np.float64) * gain
                frame = np.clip(frame + back, -32768, 32767).astype(np.int16)
            del port._line[: -delay - 1]
        port.samples += FRAME
        on_audio(frame)
        await asyncio.sleep(0.02 / speed)


def espeak_caller(text: str, voice: str = "en-us") -> Pcm:
    """Caller speech from espeak-ng (a different voice than the bot), as a phone carries it."""
    done = subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "--stdout", "--", text],
                          capture_output=True, check=True, timeout=10)  # fmt: skip
    pcm, rate = wav_pcm(done.stdout)
    return telephone(pcm, rate)


async def through_first_ask(port: FakePort, on_audio: Callable[[Pcm], None]) -> None:
    """Silence from the caller through the greeting and the first ask, to its prompt's end."""
    for _ in range(800):
        await feed(port, on_audio, silence_ms(20))
        if port.media_time_ms > 3000 and not port.bot_speaking():
            return


def silence_ms(ms: int) -> Pcm:
    return np.zeros(RATE * ms // 1000, dtype=np.int16)
