"""The RTP endpoint of one call (asyncio UDP): latching, jitter buffer, paced sending.

Transport only: it knows nothing of CallSession or dialogue. Inbound packets
become fixed-size PCM frames (through the jitter buffer, popped on the shared
pacer's schedule) and DTMF digits; outbound frames become RTP packets sent to
the latched remote.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from callbot.clock import Clock, TimerHandle
from callbot.media.codec import AudioCodec
from callbot.media.dtmf import dtmf_packets
from callbot.media.g711 import Pcm
from callbot.media.jitter import JitterBuffer
from callbot.media.outbound import OutFrame
from callbot.media.pacer import Pacer
from callbot.media.rtcp import parse_rtcp
from callbot.media.rtp import RtpPacket, is_rtcp

Address = tuple[str, int]
PT_COMFORT_NOISE = 13
_HEADER = struct.Struct("!BBHII")
_TS_MOD = 1 << 32


@dataclass
class RtpCounters:
    """What happened on one call's RTP ports (exported per call and on /metrics)."""

    packets_in: int = 0
    packets_out: int = 0
    malformed: int = 0
    foreign_drops: int = 0
    flood_drops: int = 0
    wrong_payload_type: int = 0
    ssrc_changes: int = 0
    rtcp_in: int = 0
    dtmf_events: int = 0
    no_remote_drops: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RtpOptions:
    """Per-call RTP settings (payload types come from CallStart: a fork has no SDP)."""

    payload_type: int
    telephone_event_pt: int
    sample_rate: int
    packet_ms: int
    jitter_target_ms: int = 40
    jitter_max_ms: int = 300
    max_packets_per_s: float = 400.0
    flood_burst: float = 100.0


class _Playout:
    """Pops the jitter buffer once per frame interval on the shared pacer."""

    def __init__(self, stream: RtpStream, interval_s: float) -> None:
        self.interval_s = interval_s
        # Bound once: the pacer calls it for every frame.
        self.emit_next = stream.play_one


class RtpStream:
    """One call's RTP media: inbound packets to PCM frames, outbound frames to packets."""

    def __init__(
        self,
        *,
        clock: Clock,
        pacer: Pacer,
        codec: AudioCodec,
        options: RtpOptions,
        on_audio: Callable[[Pcm], None],
        on_packet: Callable[[], None],
        on_dtmf_packet: Callable[[RtpPacket], None],
        remote: Address | None = None,
    ) -> None:
        self._clock = clock
        self._pacer = pacer
        self._codec = codec
        self.options = options
        self._on_audio = on_audio
        self._on_packet = on_packet
        self._on_dtmf_packet = on_dtmf_packet
        self.remote: Address | None = remote
        self._latched = remote is not None
        self.jitter = JitterBuffer(
            sample_rate=options.sample_rate,
            frame_ms=options.packet_ms,
            target_ms=max(options.jitter_target_ms, options.packet_ms),
            max_ms=max(options.jitter_max_ms, options.jitter_target_ms + 4 * options.packet_ms),
        )
        self._playout = _Playout(self, options.packet_ms / 1000.0)
        self._paced = False
        self.counters = RtpCounters()
        self._ssrc: int | None = None
        self._tokens = options.flood_burst
        self._token_time = clock.now()
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._closed = False
        # Outbound numbering starts at random points (RFC 3550 5.1).
        self._out_ssrc = secrets.randbits(32)
        self._out_seq = secrets.randbits(16)
        self._out_ts = secrets.randbits(32)
        self._last_send: float | None = None
        self._dtmf_timers: list[TimerHandle] = []
        self._frame_samples = options.sample_rate * options.packet_ms // 1000
        self._interval = options.packet_ms / 1000.0

    # -------------------------------------------------------------- wiring

    def attach(self, rtp: asyncio.DatagramTransport, rtcp: asyncio.DatagramTransport) -> None:
        self._rtp, self._rtcp = rtp, rtcp

    def set_remote(self, remote: Address) -> None:
        """The controller told us where the switch listens (start or media_update)."""
        self.remote = remote
        self._latched = True

    def close(self) -> None:
        self._closed = True
        for timer in self._dtmf_timers:
            timer.cancel()
        self._dtmf_timers.clear()
        self._pacer.deactivate(self._playout)
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()
        self._rtp = self._rtcp = None

    # ------------------------------------------------------------- inbound

    def datagram(self, data: bytes, addr: Address) -> None:
        """A datagram on the RTP port."""
        now = self._clock.now()
        if self._closed or not self._admit(addr, now):
            return
        if is_rtcp(data):  # rtcp-mux: counted, never played
            self._rtcp_packet(data)
            return
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            self.counters.malformed += 1
            return
        if not self._latched:
            self.remote = addr
            self._latched = True
        self.counters.packets_in += 1
        self._on_packet()
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                # A new stream from the same peer (Asterisk does this on bridge changes).
                self.counters.ssrc_changes += 1
                self.jitter.reset()
            self._ssrc = packet.ssrc
        pt = packet.payload_type
        if pt == self.options.telephone_event_pt:
            self._on_dtmf_packet(packet)
        elif pt in (self.options.payload_type, PT_COMFORT_NOISE):
            self._push_audio(packet, now)
        else:
            self.counters.wrong_payload_type += 1

    def rtcp_datagram(self, data: bytes, addr: Address) -> None:
        """A datagram on the RTCP port (RTP port + 1)."""
        if self._closed:
            return
        if self._latched and self.remote is not None and addr[0] != self.remote[0]:
            self.counters.foreign_drops += 1
            return
        self._rtcp_packet(data)

    def _rtcp_packet(self, data: bytes) -> None:
        try:
            parse_rtcp(data)
        except ValueError:
            self.counters.malformed += 1
            return
        self.counters.rtcp_in += 1

    def _admit(self, addr: Address, now: float) -> bool:
        opts = self.options
        self._tokens = min(
            opts.flood_burst, self._tokens + (now - self._token_time) * opts.max_packets_per_s
        )
        self._token_time = now
        if self._tokens < 1.0:
            self.counters.flood_drops += 1
            return False
        self._tokens -= 1.0
        if self._latched and self.remote is not None and addr != self.remote:
            self.counters.foreign_drops += 1
            return False
        return True

    def _push_audio(self, packet: RtpPacket, now: float) -> None:
        cn = packet.payload_type == PT_COMFORT_NOISE
        try:
            pcm = self._codec.decode(b"" if cn else packet.payload)
        except ValueError:
            self.counters.malformed += 1
            return
        self.jitter.push(
            packet.sequence_number,
            packet.timestamp,
            pcm,
            now,
            marker=packet.marker,
            comfort_noise=cn,
            copy=False,  # a fresh decode, held by nobody else
        )
        if not self._paced:  # once started, playout runs until the call closes
            self._paced = True
            self._pacer.activate(self._playout)

    def play_one(self) -> bool:
        if self._closed:
            return False
        self._on_audio(self.jitter.pop().pcm)
        return True

    # ------------------------------------------------------------ outbound

    def send_frame(self, frame: OutFrame) -> None:
        """FrameSink for OutboundAudio: one paced frame becomes one RTP packet."""
        now = self._clock.now()
        last = self._last_send
        self._last_send = now
        marker = last is None or now - last > 1.5 * self._interval
        if marker and last is not None:
            # Talkspurt after silence: timestamps keep counting real time.
            skipped = round((now - last) / self._interval) - 1
            self._out_ts = (self._out_ts + skipped * self._frame_samples) % _TS_MOD
        self.send_packet(self.options.payload_type, frame.payload, self._out_ts, marker)
        self._out_ts = (self._out_ts + len(frame.pcm)) % _TS_MOD

    def send_packet(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> None:
        if self._rtp is None or self._closed:
            return
        if self.remote is None:
            self.counters.no_remote_drops += 1
            return
        # Hot path (every frame of every call): a fixed 12-byte header, packed directly.
        header = _HEADER.pack(
            0x80, (0x80 if marker else 0) | payload_type, self._out_seq, timestamp, self._out_ssrc
        )
        self._out_seq = (self._out_seq + 1) & 0xFFFF
        self._rtp.sendto(header + payload, self.remote)
        self.counters.packets_out += 1

    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 80) -> float:
        """Send digits as RFC 4733 events (the send-DTMF action); returns seconds it takes."""
        rate = self.options.sample_rate
        now = self._clock.now()
        start = 0.0
        for digit in digits:
            timestamp = (self._out_ts + round(start * rate)) % _TS_MOD
            for packet in dtmf_packets(digit, timestamp, duration_ms * rate // 1000):
                self._dtmf_timers.append(
                    self._clock.call_at(
                        now + start + packet.offset / rate,
                        partial(
                            self.send_packet,
                            self.options.telephone_event_pt,
                            packet.payload,
                            packet.timestamp,
                            packet.marker,
                        ),
                    )
                )
            start += (duration_ms + gap_ms) / 1000.0
        return start


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, Address], None]) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # IPv4/IPv6 sockets give (host, port[, flow, scope]); latching compares (host, port).
        self._handler(data, addr if len(addr) == 2 else (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: not our failure.
        pass


class RtpPortPool:
    """Even RTP ports (RTCP on +1) from a configured range, bound on one interface."""

    def __init__(self, bind_host: str, advertised_host: str, port_min: int, port_max: int) -> None:
        if port_min % 2:
            port_min += 1
        if port_min < 1024 or port_max > 65535 or port_max - port_min < 2:
            raise ValueError(f"bad RTP port range {port_min}-{port_max}")
        self.bind_host = bind_host
        self.advertised_host = advertised_host or bind_host
        self._min = port_min
        self._max = port_max
        self._next = port_min
        self._used: set[int] = set()

    @property
    def in_use(self) -> int:
        return len(self._used)

    async def allocate(self, stream: RtpStream) -> int:
        """Bind an even/odd port pair for `stream`; raises OSError when none is free."""
        loop = asyncio.get_running_loop()
        span = (self._max - self._min) // 2
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 3 <= self._max else self._min
            if port in self._used:
                continue
            try:
                rtp, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(stream.datagram), local_addr=(self.bind_host, port)
                )
            except OSError:
                continue
            try:
                rtcp, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(stream.rtcp_datagram), local_addr=(self.bind_host, port + 1)
                )
            except OSError:
                rtp.close()
                continue
            stream.attach(rtp, rtcp)
            self._used.add(port)
            return port
        raise OSError(f"no free RTP port pair in {self._min}-{self._max}")

    def release(self, port: int) -> None:
        self._used.discard(port)


async def resolve_remote(host: str, port: int) -> Address:
    """Turn a host name into the address literal packets will come from."""
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=2)  # SOCK_DGRAM
    if not infos:
        raise OSError(f"cannot resolve {host}")
    return str(infos[0][4][0]), port
