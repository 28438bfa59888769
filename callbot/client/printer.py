"""What `callbot call` prints: the conversation from the bot's events, or heard in its audio."""

from __future__ import annotations

import numpy as np

from callbot.media.g711 import Pcm
from callbot.v1 import callbot_pb2 as pb

# A bot frame this loud (RMS) is speech; this long below it ends a line.
_SPEAKING_RMS = 300.0
_QUIET_S = 0.4


class Printer:
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
            if m.barge_in_pause_ms:
                onset = m.barge_in_onset_ms
                print(
                    f"{t} latency: barge-in paused the bot {m.barge_in_pause_ms - onset} ms "
                    f"after the caller's onset, decided at {m.barge_in_decision_ms - onset} ms"
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


class AudioWatch:
    """For SIP calls, whose events stay with the bot: bot lines and voice-to-voice
    latency as the caller hears them, from the bot's audio.

    Latency is measured from the end of the caller's speech (its last loud
    sample) to the first loud bot frame after it.
    """

    def __init__(self, printer: Printer, start: float) -> None:
        self._printer = printer
        self._start = start  # loop time of the call's first frame
        self._started: float | None = None
        self._quiet_since: float | None = None
        self.caller_speech_end: float | None = None  # loop time

    def bot_frame(self, pcm: Pcm, now: float) -> None:
        """One bot frame as the caller hears it, at loop time `now`."""
        p = self._printer
        loud = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) >= _SPEAKING_RMS
        at = stamp(now - self._start)
        if loud:
            p.last_bot_activity = now
            self._quiet_since = None
            if self._started is None:
                self._started = now
                p.speaking.add("audio")
                p.bot_lines += 1
                end, self.caller_speech_end = self.caller_speech_end, None
                heard = ""
                if end is not None and now > end:
                    heard = f"; voice-to-voice {(now - end) * 1000:.0f} ms, heard by the caller"
                print(f"{at} bot:    speaking{heard}")
        elif self._started is not None:
            if self._quiet_since is None:
                self._quiet_since = now
            elif now - self._quiet_since >= _QUIET_S:
                print(f"{at} bot:    quiet after {self._quiet_since - self._started:.1f} s")
                self._started = None
                p.speaking.discard("audio")


def stamp(seconds: float) -> str:
    return f"[{seconds:7.2f}s]"


def speech_end(pcm: Pcm, rate: int) -> float:
    """Seconds from the start of `pcm` to its last sample within 35 dB of its peak."""
    level = np.abs(pcm.astype(np.int32))
    peak = int(level.max()) if level.size else 0
    if not peak:
        return 0.0
    loud = np.flatnonzero(level >= peak * 10 ** (-35 / 20))
    return float(loud[-1] + 1) / rate
