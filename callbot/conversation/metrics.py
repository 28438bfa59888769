"""Per-turn latency marks on the media clock, and their wire and record forms."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from callbot.conversation.port import CallPort
from callbot.record import TurnRecord
from callbot.turn.bargein import BargeInTimes
from callbot.v1 import callbot_pb2 as pb


@dataclass
class TurnTimes:
    """Media ms of each stage of one caller turn and the bot's answer; 0 = not reached."""

    turn_id: str
    speech_end_ms: int = 0  # caller's last voiced sample
    endpoint_ms: int = 0  # when the endpointer declared the end
    final_transcript_ms: int = 0
    dialog_decision_ms: int = 0
    first_tts_audio_ms: int = 0
    first_outbound_frame_ms: int = 0
    barge_in_onset_ms: int = 0
    barge_in_pause_ms: int = 0
    barge_in_decision_ms: int = 0
    barge_in_last_frame_ms: int = 0
    sent: bool = False

    def voice_to_voice_ms(self) -> int | None:
        if not self.speech_end_ms or not self.first_outbound_frame_ms:
            return None
        return self.first_outbound_frame_ms - self.speech_end_ms

    def to_proto(self) -> pb.TurnMetrics:
        fields = {k: max(0, v) for k, v in asdict(self).items() if k.endswith("_ms")}
        return pb.TurnMetrics(turn_id=self.turn_id, **fields)

    def to_record(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k.endswith("_ms") and v}


class TurnLog:
    """One call's turn marks: which caller turn the bot is answering, what was sent."""

    def __init__(self, port: CallPort) -> None:
        self._port = port
        self.times: dict[str, TurnTimes] = {}
        self.answering: TurnTimes | None = None  # the caller turn the next bot audio answers
        self.caller_turns: dict[str, TurnRecord] = {}
        self.sent: list[TurnTimes] = []  # every turn's latency marks, for benchmarks

    def get(self, turn_id: str) -> TurnTimes:
        return self.times.setdefault(turn_id, TurnTimes(turn_id))

    def caller_turn(self, uid: str, start_ms: int, end_ms: int, confidence: float) -> TurnTimes:
        """A final transcript arrived: the caller turn goes into the record."""
        t = self.get(uid)
        t.final_transcript_ms = now = self._port.media_time_ms
        turn = TurnRecord("caller", "speech", start_ms, end_ms or now, details={
            "utterance_id": uid, "confidence": round(confidence, 3)})  # fmt: skip
        self.caller_turns[uid] = turn
        self._port.record.turns.append(turn)
        return t

    def barge(self, turn_id: str, last: BargeInTimes | None) -> TurnTimes:
        t = self.get(turn_id)
        if last is not None:
            t.barge_in_onset_ms, t.barge_in_pause_ms = last.onset_ms, last.pause_ms
            t.barge_in_decision_ms = last.decision_ms
        return t

    def send(self, t: TurnTimes) -> None:
        if t.sent:
            return
        t.sent = True
        self.sent.append(t)
        self._port.send(pb.ServerMessage(turn_metrics=t.to_proto()))
        turn = self.caller_turns.get(t.turn_id)
        if turn is not None:
            turn.details["latency_ms"] = t.to_record()
