"""Pairs a call's RTP endpoint with its CallSession: audio, DTMF, counters, ports."""

from __future__ import annotations

import logging

from callbot.call import CallSession
from callbot.clock import Clock
from callbot.media.dtmf import DtmfReceiver
from callbot.media.dtmf_detect import DtmfDetector
from callbot.media.g711 import Pcm
from callbot.media.pacer import Pacer
from callbot.media.rtp import RtpPacket
from callbot.media.rtp_endpoint import RtpOptions, RtpPortPool, RtpStream, resolve_remote
from callbot.server.contract import ContractError
from callbot.server.metrics import Metrics
from callbot.v1 import callbot_pb2 as pb

log = logging.getLogger(__name__)

# In-band detection runs on 100 ms of audio at a time: numpy's per-call overhead
# dominates on single 20 ms frames (60 us a frame against 23 us batched).
_INBAND_BATCH_MS = 100.0


class RtpCallMedia:
    """The RTP side of one call, from port allocation to release."""

    def __init__(
        self,
        session: CallSession,
        *,
        pool: RtpPortPool,
        clock: Clock,
        pacer: Pacer,
        metrics: Metrics,
        jitter_target_ms: int,
        max_packets_per_s: float,
        inband_dtmf: bool = True,
    ) -> None:
        cfg = session.config
        self._session = session
        self._clock = clock
        self._rate = cfg.sample_rate
        self._receiver = DtmfReceiver()
        self._detector = (
            DtmfDetector(cfg.sample_rate, batch_ms=_INBAND_BATCH_MS) if inband_dtmf else None
        )
        self._rfc4733_seen = False
        self._pool = pool
        self._metrics = metrics
        self.port = 0
        pt = {"PCMU": 0, "PCMA": 8}.get(cfg.codec.value, cfg.l16_payload_type)
        self.stream = RtpStream(
            clock=clock,
            pacer=pacer,
            codec=cfg.wire_codec(rtp=True),
            options=RtpOptions(
                payload_type=pt,
                telephone_event_pt=cfg.telephone_event_payload_type,
                sample_rate=cfg.sample_rate,
                packet_ms=cfg.packet_ms,
                jitter_target_ms=jitter_target_ms,
                max_packets_per_s=max_packets_per_s,
            ),
            on_audio=self._on_audio,
            on_packet=session.touch_media,
            on_dtmf_packet=self._on_dtmf_packet,
        )

    async def open(self) -> pb.RtpAddress:
        """Bind the port pair and latch to the remote the controller gave, if any."""
        remote = self._session.config.remote_rtp
        if remote is not None:
            await self.update_remote(*remote)
        try:
            self.port = await self._pool.allocate(self.stream)
        except OSError as exc:
            raise ContractError(pb.ERROR_CODE_RESOURCE_EXHAUSTED, str(exc)) from exc
        self._session.start(frame_sink=self.stream.send_frame, dtmf_sender=self._send_dtmf)
        return self.local_address

    @property
    def local_address(self) -> pb.RtpAddress:
        """Where the switch sends this call's RTP."""
        return pb.RtpAddress(host=self._pool.advertised_host, port=self.port)

    async def update_remote(self, host: str, port: int) -> None:
        try:
            self.stream.set_remote(await resolve_remote(host, port))
        except OSError as exc:
            raise ContractError(
                pb.ERROR_CODE_INVALID_ARGUMENT, "remote_rtp host does not resolve", fatal=False
            ) from exc

    def close(self) -> None:
        self.stream.close()
        if self.port:
            self._pool.release(self.port)
        counters = self.stream.counters.as_dict()
        stats = self.stream.jitter.stats
        counters.update(
            lost=stats.lost,
            late=stats.late,
            duplicates=stats.duplicates,
            concealed_frames=stats.concealed_frames,
            jitter_us=int(stats.jitter * 1e6),
        )
        self._session.record.media.update({f"rtp_{k}": v for k, v in counters.items()})
        self._metrics.add_rtp(counters)

    def _send_dtmf(self, digits: str) -> None:
        self.stream.send_dtmf(digits)

    def _on_audio(self, pcm: Pcm) -> None:
        self._session.on_audio(pcm)
        for digit in self._receiver.poll(self._clock.now()):
            self._report(digit.digit, digit.duration, pb.DTMF_SOURCE_RFC4733)
        if self._detector is not None and not self._rfc4733_seen:
            for found in self._detector.process(pcm):
                self._report(found.digit, found.duration, pb.DTMF_SOURCE_INBAND)

    def _on_dtmf_packet(self, packet: RtpPacket) -> None:
        # A peer that sends RFC 4733 events mutes or keeps the tones: either way the
        # events are the truth, so in-band detection stops to avoid double digits.
        self._rfc4733_seen = True
        try:
            digits = self._receiver.push(packet.timestamp, packet.payload, self._clock.now())
        except ValueError:
            self.stream.counters.malformed += 1
            return
        for digit in digits:
            self._report(digit.digit, digit.duration, pb.DTMF_SOURCE_RFC4733)

    def _report(self, digit: str, duration_samples: int, source: pb.DtmfSource.ValueType) -> None:
        self.stream.counters.dtmf_events += 1
        self._session.on_dtmf(digit, duration_samples * 1000 // self._rate, source)
