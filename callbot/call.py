"""CallSession: owns every piece of one call's state and wires its stages."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from callbot.callconfig import CallConfig
from callbot.clock import Clock
from callbot.media.echo import EchoLoop
from callbot.media.g711 import Pcm
from callbot.media.outbound import FrameSink, OutboundAudio, OutFrame
from callbot.media.pacer import Pacer
from callbot.record import CallRecord, TurnRecord
from callbot.recording import Recording
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

EmitFn = Callable[[pb.ServerMessage], None]

_OUTCOME_BY_REASON: dict[pb.EndReason.ValueType, str] = {
    pb.END_REASON_CALLER_HANGUP: "caller_hung_up",
    pb.END_REASON_CLIENT_GONE: "caller_hung_up",
    pb.END_REASON_MEDIA_TIMEOUT: "caller_hung_up",
    pb.END_REASON_BOT_HANGUP: "bot_hung_up",
    pb.END_REASON_TRANSFERRED: "transferred",
    pb.END_REASON_SERVER_SHUTDOWN: "error",
    pb.END_REASON_PROTOCOL_ERROR: "error",
    pb.END_REASON_ERROR: "error",
    pb.END_REASON_SLOW_CONSUMER: "error",
    pb.END_REASON_MAX_DURATION: "completed",
}


class MediaHandler(Protocol):
    """What a call does with the caller's audio: the echo loop, later the dialogue."""

    def on_audio(self, pcm: Pcm) -> None: ...

    def on_hold(self) -> None: ...

    def on_resume(self) -> None: ...

    def close(self) -> None: ...


class EchoHandler:
    """Plays the caller's audio back after a delay, through the bot's outbound path."""

    def __init__(self, outbound: OutboundAudio, delay_samples: int) -> None:
        self._outbound = outbound
        self._loop = EchoLoop(delay_samples)

    def on_audio(self, pcm: Pcm) -> None:
        self._outbound.push(self._loop.process(pcm))

    def on_hold(self) -> None:
        self._loop.clear()

    def on_resume(self) -> None:
        self._loop.clear()

    def close(self) -> None:
        self._loop.clear()


class CallSession:
    """One call: media clock, outbound audio, recording, record, events, end."""

    def __init__(
        self,
        config: CallConfig,
        *,
        clock: Clock,
        pacer: Pacer,
        emit: EmitFn,
        server_id: str,
        make_handler: Callable[[CallSession], MediaHandler],
        recordings_dir: Path,
        redact_text: Callable[[str], str] | None = None,
        outbound_lead_s: float = 0.0,
    ) -> None:
        self.config = config
        self._clock = clock
        self._pacer = pacer
        self._emit = emit
        self._make_handler = make_handler
        self._redact = redact_text
        self._recordings_dir = recordings_dir
        self._outbound_lead_s = outbound_lead_s
        self.record = CallRecord(
            call_id=config.call_id,
            tenant=config.tenant,
            server_id=server_id,
            media_mode=config.media_mode.value,
            codec=config.codec.value,
            sample_rate_hz=config.sample_rate,
            packet_ms=config.packet_ms,
            language=config.language,
            flow=config.flow,
            started_at=clock.wall().isoformat(timespec="milliseconds"),
            caller_metadata=dict(config.caller_metadata),
        )
        self.outbound: OutboundAudio | None = None
        self._handler: MediaHandler | None = None
        self._recording: Recording | None = None
        self._media_samples = 0
        self._gap_samples = 0
        self._held = False
        self._hold_started_ms = 0
        self.last_media_at = clock.now()
        self.frames_in = 0
        self._marks_sent = 0
        self.marks_acked = 0
        self._marks_dropped = 0
        self._dtmf_sender: Callable[[str], None] | None = None
        self._ended = asyncio.Event()
        self.end_reason: pb.EndReason.ValueType = pb.END_REASON_UNSPECIFIED

    # ------------------------------------------------------------ lifecycle

    def start(
        self,
        frame_sink: FrameSink | None = None,
        dtmf_sender: Callable[[str], None] | None = None,
    ) -> None:
        """Build the outbound path and the media handler; start recording if asked."""
        cfg = self.config
        self._dtmf_sender = dtmf_sender
        if cfg.record:
            day = self.record.started_at[:10]
            path = self._recordings_dir / day / f"{cfg.call_id}.wav"
            self._recording = Recording(path, cfg.sample_rate)
            self._recording.start()
            self.record.recording = str(path)
        sink = frame_sink or self._grpc_frame_sink
        self.outbound = OutboundAudio(
            self._pacer,
            cfg.wire_codec(rtp=frame_sink is not None),
            cfg.sample_rate,
            cfg.packet_ms,
            sink if self._recording is None else self._recorded(sink, self._recording),
            lead_s=self._outbound_lead_s,
        )
        self._handler = self._make_handler(self)
        self.last_media_at = self._clock.now()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        await self._ended.wait()

    def end(self, reason: pb.EndReason.ValueType, detail: str = "") -> None:
        """End the call once: stop media, tell the client, finish the record."""
        if self._ended.is_set():
            return
        self.end_reason = reason
        if self.outbound is not None:
            self.outbound.close()
        if self._handler is not None:
            self._handler.close()
        if self._held:
            self._close_hold()
        self.record.media.update(
            frames_in=self.frames_in,
            frames_out=self.outbound.frames_sent if self.outbound else 0,
            gap_fill_ms=self._gap_samples * 1000 // self.config.sample_rate,
            marks_acked=self.marks_acked,
        )
        self.record.finish(
            self._clock.wall(),
            self.media_time_ms,
            _OUTCOME_BY_REASON.get(reason, "error"),
            pb.EndReason.Name(reason).removeprefix("END_REASON_").lower(),
            detail,
        )
        self._ended.set()
        self.send(pb.ServerMessage(call_ended=pb.CallEnded(reason=reason, detail=detail)))
        log.info("call ended", extra={"reason": self.record.end_reason})

    async def aclose(self) -> None:
        """After end(): let the media handler finish its work (pending finals)."""
        aclose = getattr(self._handler, "aclose", None)
        if aclose is not None:
            await aclose()

    async def finish_recording(self) -> None:
        if self._recording is not None:
            await asyncio.wrap_future(self._recording.close())

    # ---------------------------------------------------------------- media

    @property
    def media_time_ms(self) -> int:
        return self._media_samples * 1000 // self.config.sample_rate

    @property
    def media_samples(self) -> int:
        return self._media_samples

    def send(self, msg: pb.ServerMessage) -> None:
        """Stamp an event with the media clock and hand it to the client stream."""
        msg.media_time_ms = self.media_time_ms
        if self._redact is not None:
            _redact_event(msg, self._redact)
        self._emit(msg)

    def on_audio(self, pcm: Pcm) -> None:
        """Caller audio at the call's rate, in arrival order."""
        if self.ended:
            return
        if self._recording is not None:
            self._recording.caller(pcm, self._media_samples)
        self._media_samples += pcm.size
        self.frames_in += 1
        if not self._held and self._handler is not None:
            self._handler.on_audio(pcm)

    def touch_media(self) -> None:
        """Media arrived from the caller (a chunk or a packet): the call is alive."""
        self.last_media_at = self._clock.now()

    def on_gap(self, samples: int) -> None:
        """Missing caller audio: the media clock moves on over silence."""
        self._gap_samples += samples
        self.on_audio(np.zeros(samples, dtype=np.int16))

    def on_dtmf(self, digit: str, duration_ms: int, source: pb.DtmfSource.ValueType) -> None:
        if self.ended:
            return
        now = self.media_time_ms
        self.record.turns.append(
            TurnRecord("caller", "dtmf", now, now + duration_ms, dtmf=digit, details={})
        )
        self.send(
            pb.ServerMessage(dtmf=pb.DtmfEvent(digit=digit, duration_ms=duration_ms, source=source))
        )
        on_dtmf = getattr(self._handler, "on_dtmf", None)
        if on_dtmf is not None:
            on_dtmf(digit)

    def on_action_result(
        self, action_id: str, status: pb.ActionStatus.ValueType, detail: str
    ) -> bool:
        """The switch's answer to an action (a transfer that failed, ...); False if unknown."""
        for action in self.record.actions:
            if action.action_id == action_id:
                action.status = pb.ActionStatus.Name(status).removeprefix("ACTION_STATUS_").lower()
                forward = getattr(self._handler, "on_action_result", None)
                if forward is not None:
                    forward(action_id, status, detail)
                return True
        return False

    # ------------------------------------------------------- CallPort (dialogue)

    def send_dtmf(self, digits: str) -> bool:
        """DTMF on the call's own media (RFC 4733); False when the client must send it."""
        if self._dtmf_sender is None or self.ended:
            return False
        self._dtmf_sender(digits)
        return True

    def pause_recording(self) -> None:
        if self._recording is not None:
            self._recording.pause()

    def resume_recording(self) -> None:
        if self._recording is not None:
            self._recording.resume()

    def hold(self) -> None:
        if self._held or self.ended:
            return
        self._held = True
        self._hold_started_ms = self.media_time_ms
        self.clear_outbound()
        if self._handler is not None:
            self._handler.on_hold()

    def resume(self) -> None:
        if not self._held or self.ended:
            return
        self._close_hold()
        self.last_media_at = self._clock.now()
        if self._handler is not None:
            self._handler.on_resume()

    @property
    def held(self) -> bool:
        return self._held

    def clear_outbound(self) -> int:
        """Drop queued bot audio now (barge-in, hold) and tell a GRPC client to do so."""
        dropped = self.outbound.clear() if self.outbound is not None else 0
        if self.config.media_mode.value == "grpc":
            self.send(pb.ServerMessage(clear_audio=pb.ClearAudio()))
        return dropped

    def pause_outbound(self) -> None:
        """Stop the bot's audio now and keep the rest for `resume_outbound`.

        A GRPC client buffers what it was sent ahead of its playout: it is told to
        drop it, and those frames go back at the head of the queue. Which ones: the
        frames after its last playback mark, or (a client that sends no marks) the
        playout lead's worth.
        """
        out = self.outbound
        if out is None:
            return
        out.pause()
        if self.config.media_mode.value != "grpc":
            return
        # Marks up to `_marks_dropped` were dropped at the last pause and never play.
        unheard = self._marks_sent - max(self.marks_acked, self._marks_dropped)
        if not self.marks_acked:
            unheard = min(unheard, math.ceil(self._outbound_lead_s / out.interval_s) + 1)
        if unheard > 0:
            self.send(pb.ServerMessage(clear_audio=pb.ClearAudio()))
            out.recall(unheard)
            self._marks_dropped = self._marks_sent

    def resume_outbound(self) -> None:
        if self.outbound is not None:
            self.outbound.resume()

    def on_playback_mark(self, mark_id: str) -> bool:
        """A GRPC client played audio up to this mark; False if it is not ours."""
        if not mark_id.startswith("a") or not mark_id[1:].isdigit():
            return False
        n = int(mark_id[1:])
        if n < 1 or n > self._marks_sent:
            return False
        self.marks_acked = max(self.marks_acked, n)
        on_marks = getattr(self._handler, "on_playback_marks", None)
        if on_marks is not None:
            on_marks(self.marks_acked)
        return True

    def update_metadata(self, metadata: dict[str, str]) -> None:
        self.record.caller_metadata.update(metadata)

    # ------------------------------------------------------------- internal

    def _close_hold(self) -> None:
        self._held = False
        self.record.holds.append({"start_ms": self._hold_started_ms, "end_ms": self.media_time_ms})

    def _grpc_frame_sink(self, frame: OutFrame) -> None:
        self._marks_sent += 1
        self.send(
            pb.ServerMessage(
                audio=pb.BotAudio(
                    audio=frame.payload,
                    mark_id=f"a{self._marks_sent}",
                    utterance_id=frame.utterance_id,
                )
            )
        )

    def _recorded(self, sink: FrameSink, recording: Recording) -> FrameSink:
        """`sink` that also records each frame (unrecorded calls send straight to `sink`)."""

        def emit(frame: OutFrame) -> None:
            recording.bot(frame.pcm, self._media_samples)
            sink(frame)

        return emit


def _redact_event(msg: pb.ServerMessage, redact: Callable[[str], str]) -> None:
    """Card numbers, phone numbers, e-mails, RRNs never reach the client in clear text."""
    kind = msg.WhichOneof("message")
    if kind == "transcript":
        text = redact(msg.transcript.text)
        if text != msg.transcript.text:
            msg.transcript.text = text
            del msg.transcript.words[:]  # word timings would give the digits back
    elif kind == "bot_speech":
        msg.bot_speech.text = redact(msg.bot_speech.text)
    elif kind == "barge_in":
        msg.barge_in.heard_text = redact(msg.barge_in.heard_text)
        msg.barge_in.planned_text = redact(msg.barge_in.planned_text)
