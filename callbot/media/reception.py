"""Per-source RTP reception accounting (RFC 3550 A.1, A.3, A.8).

Extends 16-bit sequence numbers and 32-bit timestamps past their wrap-around,
drops duplicates, follows a sender restart after two sequential packets, and
keeps the loss count and the interarrival jitter estimate.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callbot.media.rtp import SEQ_MOD, TS_MOD, ts_diff

# RFC 3550 A.1: a jump larger than this is a restart (or garbage) until confirmed.
MAX_DROPOUT = 3000
# How far behind the highest sequence number a missing packet is still awaited;
# anything older that arrives counts as a duplicate.
_SEEN_WINDOW = 4096


class Arrival(enum.Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    PROBATION = "probation"  # a large jump, held back until the next packet confirms it
    RESTART = "restart"  # the jump was confirmed: numbering starts again here


@dataclass(frozen=True)
class Tracked:
    """What the tracker made of one packet; extended numbers are None unless accepted."""

    arrival: Arrival
    ext_seq: int | None = None
    ext_timestamp: int | None = None


class ReceptionTracker:
    """Sequence, loss and jitter accounting for one RTP source."""

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self.clock_rate = clock_rate
        self.duplicates = 0
        self.discarded = 0
        self.restarts = 0
        self.jitter = 0.0  # timestamp units, RFC 3550 A.8
        self._lost_before = 0  # expected minus received in earlier numbering epochs
        self._received_before = 0
        self.ext_seq = self.ext_timestamp = 0  # of the last packet `accept` took
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._base: int | None = None
        self._max_seq = 0
        self._max_ts = 0
        self._received = 0
        # Sequence numbers skipped over and not (yet) received. In-order packets,
        # the usual case, leave it empty and cost no set operation at all.
        self._missing: set[int] = set()
        self._probe: int | None = None
        self._last_transit: float | None = None

    def reset(self) -> None:
        """Forget the current source (a new SSRC); the counters stay cumulative."""
        self._close_epoch()
        self._start_epoch()
        self.jitter = 0.0

    def _close_epoch(self) -> None:
        self._lost_before += self._epoch_lost()
        self._received_before += self._received

    def _epoch_lost(self) -> int:
        if self._base is None:
            return 0
        return max(0, self._max_seq - self._base + 1 - self._received)

    @property
    def received(self) -> int:
        """Distinct packets accepted (late ones included, duplicates not)."""
        return self._received_before + self._received

    @property
    def lost(self) -> int:
        """Packets expected but never received (RFC 3550 A.3), over all epochs."""
        return self._lost_before + self._epoch_lost()

    @property
    def jitter_seconds(self) -> float:
        return self.jitter / self.clock_rate

    def update(self, seq: int, timestamp: int, arrival_time: float) -> Tracked:
        """Account one packet and extend its numbers."""
        arrival = self.accept(seq, timestamp, arrival_time)
        if arrival is Arrival.PROBATION or arrival is Arrival.DUPLICATE:
            return Tracked(arrival)
        return Tracked(arrival, self.ext_seq, self.ext_timestamp)

    def accept(self, seq: int, timestamp: int, arrival_time: float) -> Arrival:
        """`update` without the result object (the per-packet path): an accepted
        packet's extended numbers are left in `ext_seq` and `ext_timestamp`."""
        if not 0 <= seq < SEQ_MOD:
            raise ValueError(f"sequence number {seq} is not 16-bit")
        if not 0 <= timestamp < TS_MOD:
            raise ValueError(f"timestamp {timestamp} is not 32-bit")
        outcome = Arrival.NEW
        jump = 0
        if self._base is not None:
            jump = ((seq - self._max_seq + 0x8000) & 0xFFFF) - 0x8000  # seq_diff, inlined
            if jump > MAX_DROPOUT or jump < -MAX_DROPOUT:
                if self._probe is None or seq != (self._probe + 1) & 0xFFFF:
                    self._probe = seq
                    self.discarded += 1
                    return Arrival.PROBATION
                # Two sequential packets after the jump: the sender restarted.
                # The probe packet itself stays discarded (it was not kept).
                self._close_epoch()
                self._start_epoch()
                self.restarts += 1
                outcome = Arrival.RESTART
            self._probe = None
        if self._base is None:
            self._base = self._max_seq = ext_seq = seq
            self._max_ts = ext_ts = timestamp
        else:
            ext_seq = self._max_seq + jump
            ext_ts = self._max_ts + ts_diff(timestamp, self._max_ts % TS_MOD)
            if jump > 0:
                if jump > 1:
                    self._missing.update(range(self._max_seq + 1, ext_seq))
                self._max_seq = ext_seq
            elif ext_seq < self._base:
                # Older than the first packet: the numbering starts earlier.
                self._missing.update(range(ext_seq + 1, self._base))
                self._base = ext_seq
            elif ext_seq in self._missing:
                self._missing.discard(ext_seq)  # a late packet fills its hole
            else:
                self.duplicates += 1
                return Arrival.DUPLICATE
            self._max_ts = max(self._max_ts, ext_ts)
        self._received += 1
        missing = self._missing
        if len(missing) > _SEEN_WINDOW:
            floor = self._max_seq - _SEEN_WINDOW
            self._missing = {s for s in missing if s >= floor}
        transit = arrival_time * self.clock_rate - ext_ts
        if self._last_transit is not None:
            self.jitter += (abs(transit - self._last_transit) - self.jitter) / 16
        self._last_transit = transit
        self.ext_seq = ext_seq
        self.ext_timestamp = ext_ts
        return outcome
