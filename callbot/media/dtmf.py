"""DTMF as RFC 4733 telephone-events: payload format, receiver and sender.

Digits are personal data (card and account numbers): nothing here logs them.
"""

from __future__ import annotations

import collections
import struct
from dataclasses import dataclass

from callbot.media.rtp import TS_MOD, ts_diff

DIGITS = "0123456789*#ABCD"
FLASH = 16
PAYLOAD_SIZE = 4
MAX_DURATION = 0xFFFF

_PAYLOAD = struct.Struct("!BBH")


def digit_to_event(digit: str) -> int:
    """RFC 4733 event code of a DTMF key (0-9, *, #, A-D)."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"{digit!r} is not a DTMF key")
    return code


@dataclass(frozen=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 section 2.3); the R bit is dropped."""

    event: int
    end: bool = False
    volume: int = 10  # -dBm0
    duration: int = 0  # timestamp units since the event's RTP timestamp

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError(f"event code {self.event} is not 8-bit")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"volume {self.volume} is not in 0-63")
        if not 0 <= self.duration <= MAX_DURATION:
            raise ValueError(f"duration {self.duration} is not 16-bit")

    @property
    def digit(self) -> str | None:
        """The DTMF key, or None for events other than 0-15."""
        return DIGITS[self.event] if self.event < len(DIGITS) else None

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        if len(data) != PAYLOAD_SIZE:
            raise ValueError(f"telephone-event payload of {len(data)} bytes is not 4 bytes")
        event, flags, duration = _PAYLOAD.unpack(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)


@dataclass(frozen=True)
class DtmfDigit:
    """One key press: its RTP timestamp, duration in timestamp units, and volume."""

    digit: str
    timestamp: int
    duration: int
    volume: int


@dataclass
class _Open:
    event: TelephoneEvent
    timestamp: int
    last_arrival: float


class DtmfReceiver:
    """Turns telephone-event packets into exactly one digit per event.

    An event is identified by its RTP timestamp. The digit comes out on the first
    end packet (later redundant end packets are ignored), or, when every end
    packet was lost, when the next event starts or `poll()` finds it silent for
    `timeout` seconds. A lost start packet does not matter: any packet opens the
    event.
    """

    def __init__(self, timeout: float = 0.3, remember: int = 32) -> None:
        self.timeout = timeout
        self.ignored = 0  # non-DTMF events (flash, modem tones, ...) and stale packets
        self._open: _Open | None = None
        self._latest: int | None = None  # RTP timestamp of the newest event seen
        self._done: collections.deque[int] = collections.deque(maxlen=remember)

    def push(
        self, timestamp: int, payload: bytes | TelephoneEvent, arrival_time: float
    ) -> list[DtmfDigit]:
        """One telephone-event packet; returns the digits it completed (0, 1 or 2)."""
        if not 0 <= timestamp < TS_MOD:
            raise ValueError(f"timestamp {timestamp} is not 32-bit")
        event = payload if isinstance(payload, TelephoneEvent) else TelephoneEvent.parse(payload)
        if timestamp in self._done or event.digit is None:
            self.ignored += 1
            return []
        if self._latest is not None and ts_diff(timestamp, self._latest) < 0:
            # An older event's packet arriving after a newer event began.
            self.ignored += 1
            return []
        self._latest = timestamp
        out: list[DtmfDigit] = []
        current = self._open
        if current is not None and current.timestamp != timestamp:
            out.append(self._finish(current))
            current = None
        if current is None:
            current = self._open = _Open(event, timestamp, arrival_time)
        elif event.duration >= current.event.duration or event.end:
            current.event = event
        current.last_arrival = arrival_time
        if event.end:
            out.append(self._finish(current))
        return out

    def poll(self, now: float) -> list[DtmfDigit]:
        """Close an event whose end packets never came."""
        if self._open is not None and now - self._open.last_arrival >= self.timeout:
            return [self._finish(self._open)]
        return []

    def _finish(self, state: _Open) -> DtmfDigit:
        self._open = None
        self._done.append(state.timestamp)
        event = state.event
        assert event.digit is not None
        return DtmfDigit(event.digit, state.timestamp, event.duration, event.volume)


@dataclass(frozen=True)
class EventPacket:
    """A telephone-event packet to send `offset` timestamp units after the key press."""

    offset: int
    marker: bool
    timestamp: int
    payload: bytes


def dtmf_packets(
    digit: str,
    timestamp: int,
    duration: int,
    *,
    interval: int = 400,
    volume: int = 10,
    end_repeats: int = 3,
) -> list[EventPacket]:
    """The packets that send one key press (RFC 4733 section 2.5.1).

    All carry the event's start `timestamp`; the first has the marker. An update
    goes every `interval` units (50 ms at 8 kHz) with the duration covered so far,
    counting the packet's own interval as Asterisk does, then `end_repeats`
    identical end packets. The caller gives each its own sequence number.
    """
    event = digit_to_event(digit)
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration {duration} is not in 1-{MAX_DURATION}")
    if interval <= 0 or end_repeats < 1:
        raise ValueError("interval and end repeats must be positive")
    packets = []
    for offset in range(0, duration, interval):
        payload = TelephoneEvent(event, False, volume, min(offset + interval, duration))
        packets.append(EventPacket(offset, offset == 0, timestamp, payload.serialize()))
    end = TelephoneEvent(event, True, volume, duration).serialize()
    packets += [EventPacket(duration, False, timestamp, end) for _ in range(end_repeats)]
    return packets
