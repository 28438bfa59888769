"""What the caller's utterances become on the stream, and which ones never got a final.

Two duties the listener leaves to the conversation:

- During a sensitive ask (card digits, a PIN) transcripts must not reach the
  client as spoken: partials go out as the redaction marker, finals with the
  dialogue's own masked reading of the turn (its `CallerTurn` text), no words.
- An utterance whose final the hallucination guard drops (or whose decode
  failed) produces no event at all. Left alone, the dialogue never hears that
  the caller spoke, the speech onset has disarmed the no-input timer, and the
  call waits for ever; the conversation answers it as a no-match instead.
"""

from __future__ import annotations

from collections import OrderedDict

from callbot.dialog import events as ev
from callbot.dialog.templates import REDACTED
from callbot.stt.events import ListenEvent, ListenEventKind
from callbot.stt.handler import to_message
from callbot.v1 import callbot_pb2 as pb

STALE_MS = 10_000  # no final this long after the end of speech: the decode is lost


def transcript_message(
    e: ListenEvent, *, sensitive: bool, outputs: list[ev.Output] | None = None
) -> pb.ServerMessage:
    """The wire form of a listener event, masked while the ask is sensitive."""
    msg = to_message(e)
    if not sensitive or e.kind not in (ListenEventKind.PARTIAL, ListenEventKind.FINAL):
        return msg
    masked = [o.text for o in outputs or () if isinstance(o, ev.CallerTurn)]
    msg.transcript.text = masked[-1] if masked else REDACTED
    del msg.transcript.words[:]
    return msg


class AwaitingFinals:
    """Utterances that ended and still wait for their final, oldest first."""

    def __init__(self) -> None:
        self._ended: OrderedDict[str, int] = OrderedDict()  # utterance id -> end media ms
        self._rejected_seen = 0

    def __len__(self) -> int:
        return len(self._ended)

    def ended(self, utterance_id: str, now_ms: int) -> None:
        self._ended[utterance_id] = now_ms

    def final(self, utterance_id: str) -> list[str]:
        """A final arrived; the ones before it (finals come in order) were dropped."""
        earlier: list[str] = []
        for uid in list(self._ended):
            del self._ended[uid]
            if uid == utterance_id:
                return earlier
            earlier.append(uid)
        return earlier

    def dropped(self, rejected_total: int, now_ms: int) -> list[str]:
        """Utterances the listener has dropped since the last call (oldest first).

        `rejected_total` is the listener's running count of guard rejections;
        each new one is the oldest utterance still waiting. One waiting longer
        than `STALE_MS` counts as dropped too (a failed decode says nothing).
        """
        out: list[str] = []
        new = max(0, rejected_total - self._rejected_seen)
        self._rejected_seen = rejected_total
        for _ in range(min(new, len(self._ended))):
            out.append(self._ended.popitem(last=False)[0])
        while self._ended:
            uid, end_ms = next(iter(self._ended.items()))
            if now_ms - end_ms < STALE_MS:
                break
            del self._ended[uid]
            out.append(uid)
        return out
