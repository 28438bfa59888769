"""Barge-in over GRPC media: a client that buffers ahead of its playout is told to drop
what it buffered when the bot pauses, and hears it again when the bot goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest

from callbot.media import g711
from callbot.v1 import callbot_pb2 as pb
from tests.grpc_helpers import channel_to, open_call, read_until, running_server, start_message
from tests.integration.conversation.fakes import espeak_caller

pytestmark = pytest.mark.integration

FRAME = 160  # 20 ms at 8 kHz
LEAD = 5  # frames the client holds before playing one: it acks a frame's mark 100 ms late


async def test_a_pause_drops_the_clients_buffer_and_the_resume_sends_it_again(
    tmp_path: Path,
) -> None:
    uh_huh = g711.ulaw_encode(espeak_caller("uh-huh"))
    silence = g711.ulaw_encode(np.zeros(FRAME, dtype=np.int16))
    got: list[pb.ServerMessage] = []
    acked_at_pause: list[int] = []
    async with (
        running_server(tmp_path, stt_languages="en", default_flow="lost_card_en") as server,
        channel_to(server) as ch,
    ):
        stream = open_call(ch)
        await stream.write(start_message(call_id="barge-grpc"))
        await read_until(stream, "accepted", timeout=30)
        marks: list[str] = []
        acked = 0

        async def read() -> None:
            nonlocal acked
            while (msg := await stream.read()) is not grpc.aio.EOF:  # type: ignore[attr-defined]
                got.append(msg)
                kind = msg.WhichOneof("message")
                if kind == "audio":
                    marks.append(msg.audio.mark_id)
                elif kind == "clear_audio":
                    acked_at_pause.append(acked)
                    marks.clear()  # dropped unplayed

        reader = asyncio.create_task(read())
        prompt_started = 0.0
        said = False
        loop = asyncio.get_running_loop()
        for _ in range(1000):  # at most 20 s at 1x
            if len(marks) > LEAD:  # the client plays (and acks) a frame 100 ms after it came
                del marks[: len(marks) - LEAD - 1]
                mark = marks.pop(0)
                acked = int(mark[1:])
                await stream.write(pb.ClientMessage(playback_mark=pb.PlaybackMark(mark_id=mark)))
            prompt = [m for m in got if m.WhichOneof("message") == "bot_speech"
                      and m.bot_speech.text.startswith("How can I help")]  # fmt: skip
            if prompt and not prompt_started:
                prompt_started = loop.time()
            if prompt_started and not said and loop.time() - prompt_started > 1.5:
                said = True
                for i in range(0, len(uh_huh), FRAME):
                    chunk = uh_huh[i : i + FRAME].ljust(FRAME, b"\xff")
                    await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=chunk)))
                    await asyncio.sleep(0.02)
            await stream.write(pb.ClientMessage(audio=pb.AudioChunk(audio=silence)))
            await asyncio.sleep(0.02)
            kinds = [m.WhichOneof("message") for m in got]
            resumes = [i for i, m in enumerate(got) if kinds[i] == "bot_speech"
                       and m.bot_speech.state == pb.BOT_SPEECH_STATE_RESUMED]  # fmt: skip
            if said and resumes and kinds[resumes[0] :].count("audio") > 40:
                break
        await stream.write(pb.ClientMessage(hangup=pb.Hangup()))
        await asyncio.wait_for(reader, 30)

    kinds = [m.WhichOneof("message") for m in got]
    states = [(i, m.bot_speech.state) for i, m in enumerate(got) if kinds[i] == "bot_speech"]
    paused = next(i for i, s in states if s == pb.BOT_SPEECH_STATE_PAUSED)
    resumed = next(i for i, s in states if s == pb.BOT_SPEECH_STATE_RESUMED and i > paused)
    assert "barge_in" not in kinds, "an uh-huh does not end the bot's turn"
    clear = kinds.index("clear_audio", max(0, paused - 1))
    assert clear < resumed
    # The frames after the last one the client played were sent again, first.
    audio = {
        int(m.audio.mark_id[1:]): m.audio.audio for m in got if m.WhichOneof("message") == "audio"
    }
    first_after = min(
        int(m.audio.mark_id[1:]) for m in got[resumed:] if m.WhichOneof("message") == "audio"
    )
    unheard = [audio[n] for n in sorted(audio) if acked_at_pause[0] < n < first_after]
    assert 0 < len(unheard) <= 4 * LEAD, "the client held the frames it had not played"
    again = [audio[n] for n in range(first_after, first_after + len(unheard))]
    assert again == unheard
