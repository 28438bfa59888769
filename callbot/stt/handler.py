"""ListenHandler: a call's `MediaHandler` that turns Listener events into ServerMessages."""

from __future__ import annotations

from collections.abc import Callable

from callbot.media.g711 import Pcm
from callbot.stt.events import ListenEvent, ListenEventKind, TurnSettings
from callbot.stt.listener import Listener
from callbot.v1 import callbot_pb2 as pb

_SPEECH = {
    ListenEventKind.SPEECH_BEGIN: pb.SPEECH_EVENT_TYPE_BEGIN,
    ListenEventKind.SPEECH_END: pb.SPEECH_EVENT_TYPE_END,
    ListenEventKind.NO_INPUT: pb.SPEECH_EVENT_TYPE_NO_INPUT,
}


def to_message(event: ListenEvent) -> pb.ServerMessage:
    """The wire form of one listener event."""
    if event.kind in _SPEECH:
        msg = pb.ServerMessage(speech=pb.SpeechEvent(type=_SPEECH[event.kind]))
    else:
        final = event.kind is ListenEventKind.FINAL
        msg = pb.ServerMessage(
            transcript=pb.Transcript(
                is_final=final,
                text=event.text,
                stability=event.stability,
                confidence=event.confidence,
                words=[
                    pb.Word(text=w.text, start_ms=max(0, w.start_ms), end_ms=max(0, w.end_ms),
                            probability=w.probability)
                    for w in event.words
                ],
                language=event.language,
                start_ms=max(0, event.start_ms),
                end_ms=max(0, event.end_ms),
                utterance_id=event.utterance_id,
            )
        )  # fmt: skip
    msg.media_time_ms = max(0, event.media_time_ms)
    return msg


class ListenHandler:
    """Feeds caller audio to a Listener; sends its events with `send`.

    `media_samples` (e.g. `lambda: session.media_samples`) gives the media clock
    *after* the frame was counted, so frame times survive hold and gaps; without
    it the handler counts the samples it sees. `on_event` also receives every
    event (the dialogue's hook).
    """

    def __init__(
        self,
        listener: Listener,
        send: Callable[[pb.ServerMessage], None],
        *,
        media_samples: Callable[[], int] | None = None,
        on_event: Callable[[ListenEvent], None] | None = None,
    ) -> None:
        self.listener = listener
        self._send = send
        self._media_samples = media_samples
        self._on_event = on_event
        self._seen = 0

    def handle(self, event: ListenEvent) -> None:
        """The Listener's `on_event`: forward to the client and the dialogue hook."""
        self._send(to_message(event))
        if self._on_event is not None:
            self._on_event(event)

    def on_audio(self, pcm: Pcm) -> None:
        rate = self.listener.sample_rate
        if self._media_samples is not None:
            start = self._media_samples() - pcm.size
        else:
            start = self._seen
            self._seen += pcm.size
        self.listener.push(pcm, start * 1000 / rate)

    def on_hold(self) -> None:
        self.listener.end_input()

    def on_resume(self) -> None:
        """Nothing to do: the next frame's media time shows the jump."""

    def set_turn(self, settings: TurnSettings) -> None:
        self.listener.set_turn(settings)

    def close(self) -> None:
        """Synchronous end (MediaHandler): end input; finals in flight still arrive."""
        self.listener.end_input()

    async def aclose(self) -> None:
        await self.listener.aclose()
