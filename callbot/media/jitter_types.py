"""What a jitter buffer returns: frames, push outcomes and statistics."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from callbot.media.g711 import Pcm


class FrameKind(enum.Enum):
    AUDIO = "audio"
    CONCEALED = "concealed"  # loss or underrun covered by faded repetition
    SILENCE = "silence"  # nothing to play: before start, DTX, comfort noise, faded out


class PushResult(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    LATE = "late"  # its playout time had passed
    DISCARDED = "discarded"  # empty payload, or a sequence jump not (yet) confirmed


class Frame(NamedTuple):
    """One output frame; `consumed` sender samples were used up to make it.

    `consumed` is the frame size normally, twice that when drift made it merge two
    frames, 0 when it stretched one or held playout. `timestamp` is the RTP
    timestamp of the first sample played, None while buffering or held.
    """

    pcm: Pcm
    kind: FrameKind
    timestamp: int | None
    consumed: int


@dataclass(frozen=True)
class JitterStats:
    received: int
    lost: int
    late: int
    duplicates: int
    discarded: int
    overflow: int  # packets dropped unplayed to keep the depth bounded
    concealed_frames: int
    underruns: int
    drift_drops: int
    drift_inserts: int
    resets: int
    jitter: float  # RFC 3550 interarrival jitter, seconds
