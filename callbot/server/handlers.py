"""Chooses what a call does with its audio, by flow: echo loop, listening, dialogue."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from callbot.call import CallSession, EchoHandler, MediaHandler
from callbot.callconfig import MediaMode
from callbot.clock import Clock
from callbot.conversation.handler import (
    ConversationDeps,
    ConversationHandler,
    ConversationSettings,
)
from callbot.dialog.nlu.embedder import Embedder
from callbot.server.contract import ContractError
from callbot.server.flows import LoadedFlow
from callbot.stt.handler import ListenHandler
from callbot.stt.listener import Listener
from callbot.stt.service import SttService
from callbot.tts.service import TtsService
from callbot.v1 import callbot_pb2 as pb
from callbot.workers import Refused

HandlerMaker = Callable[[CallSession], MediaHandler]

ECHO_FLOW = "echo"
# Hearing only: speech events and transcripts on the stream, the bot never speaks.
LISTEN_FLOW = "listen"


class HandlerFactory:
    """Built-in media loops plus whatever the loaded models and flows allow."""

    def __init__(self, clock: Clock, echo_delay_ms: int) -> None:
        self._clock = clock
        self._echo_delay_ms = echo_delay_ms
        # Set at start-up once loaded (health is NOT_SERVING until then).
        self.stt: SttService | None = None
        self.tts: TtsService | None = None
        self.embedder: Embedder | None = None
        self.catalog: Mapping[str, LoadedFlow] = {}
        # Called when the speech pool refuses a call (counted on /metrics).
        self.on_refused: Callable[[], None] = lambda: None

    @property
    def flows(self) -> frozenset[str]:
        names = {ECHO_FLOW}
        if self.stt is not None:
            names.add(LISTEN_FLOW)
            if self.tts is not None:
                names.update(self.catalog)
        return frozenset(names)

    def maker_for(self, flow: str) -> HandlerMaker:
        if flow == LISTEN_FLOW:
            return self._listen
        loaded = self.catalog.get(flow)
        if loaded is not None:
            return lambda session: self._conversation(session, loaded)
        return self._echo

    def _echo(self, session: CallSession) -> MediaHandler:
        assert session.outbound is not None, "outbound audio is built before the handler"
        rate = session.config.sample_rate
        return EchoHandler(session.outbound, rate * self._echo_delay_ms // 1000)

    def _listen(self, session: CallSession) -> MediaHandler:
        if self.stt is None:
            raise ContractError(pb.ERROR_CODE_UNKNOWN_FLOW, "speech recognition is not loaded")
        cfg = session.config
        listener = Listener(
            self.stt, sample_rate=cfg.sample_rate, language=cfg.language, clock=self._clock
        )
        handler = ListenHandler(listener, session.send, media_samples=lambda: session.media_samples)
        listener.set_event_sink(handler.handle)
        self._start(listener.start)
        return handler

    def _conversation(self, session: CallSession, loaded: LoadedFlow) -> MediaHandler:
        if self.stt is None or self.tts is None:
            raise ContractError(pb.ERROR_CODE_UNKNOWN_FLOW, "speech models are not loaded")
        cfg = session.config
        flow = loaded.flow
        handler = ConversationHandler(
            session,
            ConversationDeps(self.stt, self.tts, flow, self.embedder, loaded.hooks),
            sample_rate=cfg.sample_rate,
            clock=self._clock,
            language=cfg.language if cfg.language in flow.languages else None,
            caller=cfg.caller_metadata,
            settings=ConversationSettings(grpc_marks=cfg.media_mode is MediaMode.GRPC),
        )
        session.record.flow_version = flow.version
        self._start(handler.start)
        return handler

    def _start(self, start: Callable[[], None]) -> None:
        try:
            start()
        except Refused as exc:
            self.on_refused()
            raise ContractError(
                pb.ERROR_CODE_RESOURCE_EXHAUSTED, "speech recognition is at capacity"
            ) from exc
