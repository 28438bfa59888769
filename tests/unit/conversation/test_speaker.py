"""The Speaker with a fake voice: order, steps after speech, what an interruption heard."""

from __future__ import annotations

import asyncio
from typing import cast

import numpy as np

from callbot.conversation.speaker import Playing, Speaker, cancel_task
from callbot.dialog.events import BotUtterance
from callbot.media.codec import AudioCodec, CodecName
from callbot.media.g711 import Pcm
from callbot.media.outbound import OutboundAudio, OutFrame
from callbot.media.pacer import PacedStream, Pacer
from callbot.tts.base import Synthesizer, VoiceInfo
from callbot.tts.service import TtsConfig, TtsService

RATE = 8000


class FakeVoice(Synthesizer):
    """100 ms of tone per word, at the call's rate (no resampling)."""

    def __init__(self) -> None:
        self.info = VoiceInfo("fake:en", "en", neural=False, sample_rate=RATE)
        self.calls: list[str] = []

    def load(self) -> None:
        pass

    def synthesize(self, text: str) -> Pcm:
        self.calls.append(text)
        return np.full(len(text.split()) * RATE // 10, 1000, dtype=np.int16)


class Pace:
    active = False

    def activate(self, stream: PacedStream, lead_s: float = 0.0) -> None:
        self.active = True

    def deactivate(self, stream: PacedStream) -> None:
        self.active = False

    def is_active(self, stream: PacedStream) -> bool:
        return self.active


class Rig:
    def __init__(self, *, marks: bool = False) -> None:
        self.voice = FakeVoice()
        self.tts = TtsService(TtsConfig(voices={"en": "fake"}, call_rates=(RATE,)))
        self.tts.add_voice("en", self.voice)
        self.pace = Pace()
        self.sent: list[OutFrame] = []
        self.out = OutboundAudio(cast(Pacer, self.pace), AudioCodec(CodecName.PCMU), RATE, 20,
                                 self.sent.append)  # fmt: skip
        self.ms = 0
        self.log: list[str] = []
        self.finished: list[Playing] = []
        self.speaker = Speaker(self.tts, self.out, sample_rate=RATE, now_ms=lambda: self.ms,
                               on_started=lambda p: self.log.append(f"start {p.utt.id}"),
                               on_first_frame=lambda p: self.log.append(f"first {p.utt.id}"),
                               on_finished=self._finished,
                               played_from_marks=marks)  # fmt: skip

    def _finished(self, p: Playing) -> None:
        self.log.append(f"end {p.utt.id}")
        self.finished.append(p)

    async def tick(self, frames: int) -> None:
        """Let `frames` 20 ms frames leave (waiting for synthesis as needed)."""
        for _ in range(frames):
            if not self.speaker.busy:
                return
            for _ in range(200):
                if self.pace.active and self.out.emit_next():
                    break
                await asyncio.sleep(0.001)
            self.ms += 20

    async def until_idle(self, frames: int) -> None:
        """Let up to `frames` frames leave, then wait for the speaker to finish."""
        await self.tick(frames)
        for _ in range(50):
            if not self.speaker.busy:
                return
            await asyncio.sleep(0.01)

    async def say_all(self, text: str, frames: int = 200) -> Playing:
        """Run the speaker, say one utterance, let it play out and stop; what played."""
        task = asyncio.create_task(self.speaker.run())
        self.speaker.say(_utt("b1", text))
        try:
            await self.until_idle(frames)
        finally:
            self.speaker.close()
            await cancel_task(task)
        return self.finished[0]


def _utt(uid: str, text: str) -> BotUtterance:
    return BotUtterance(uid, text, text, True, "en")


async def test_utterances_play_in_order_and_steps_wait_for_the_speech() -> None:
    rig = Rig()
    task = asyncio.create_task(rig.speaker.run())
    rig.speaker.say(_utt("b1", "One two three. Four five."))
    rig.speaker.then(lambda: rig.log.append("step"))
    rig.speaker.say(_utt("b2", "Six."))
    try:
        await rig.until_idle(100)
    finally:
        rig.speaker.close()
        await cancel_task(task)
    assert rig.log == ["start b1", "first b1", "end b1", "step", "start b2", "first b2", "end b2"]
    b1 = rig.finished[0]
    assert not b1.interrupted and b1.played == b1.pushed
    assert b1.heard_text(b1.played) == "One two three. Four five."
    assert rig.voice.calls == ["One two three.", "Four five.", "Six."]


async def test_an_interruption_reports_the_words_played_and_drops_queued_speech() -> None:
    rig = Rig()
    task = asyncio.create_task(rig.speaker.run())
    rig.speaker.say(_utt("b1", "One two three four five six seven eight nine ten."))
    rig.speaker.say(_utt("b2", "Never said."))
    rig.speaker.then(lambda: rig.log.append("step"))
    try:
        await rig.tick(20)  # 400 ms of the 1 s sentence
        p = rig.speaker.interrupt()
        rig.out.clear()
        await asyncio.sleep(0.05)
    finally:
        rig.speaker.close()
        await cancel_task(task)
    assert p is not None and p.interrupted
    assert p.played == 20 * 160
    assert p.heard_text(p.played).split() == ["One", "two", "three", "four"]  # 400 of 1000 ms
    assert "start b2" not in rig.log and "step" in rig.log


async def test_with_grpc_marks_heard_text_follows_the_acks_not_the_frames_sent() -> None:
    rig = Rig(marks=True)
    task = asyncio.create_task(rig.speaker.run())
    rig.speaker.say(_utt("b1", "One two three four five six seven eight nine ten."))
    try:
        await rig.tick(30)  # 600 ms sent; the client has played only what it acked
        p = rig.speaker.current
        assert p is not None and p.sent == 30 * 160 and p.played == 0
        rig.speaker.played_from_acks(10)  # one mark per 20 ms frame: 200 ms heard
        rig.speaker.played_from_acks(7)  # a late, older ack never moves it back
        assert p.played == 10 * 160
        rig.speaker.interrupt()
        rig.speaker.played_from_acks(30)  # frames played before the client cleared its buffer
        rig.out.clear()
        await asyncio.sleep(0.05)
    finally:
        rig.speaker.close()
        await cancel_task(task)
    assert p.interrupted and p.played == 10 * 160
    assert p.heard_text(p.played).split() == ["One", "two"]  # 200 of 1000 ms


async def test_with_grpc_marks_an_utterance_ends_when_sent_even_without_acks() -> None:
    rig = Rig(marks=True)
    b1 = await rig.say_all("One two.", frames=30)
    assert rig.log == ["start b1", "first b1", "end b1"]
    assert b1.sent >= b1.pushed and b1.played == 0 and not b1.interrupted  # last frame padded
