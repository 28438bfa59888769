"""Audio codecs by name: G.711 mu-law/A-law and 16-bit linear PCM."""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass

import numpy as np

from callbot.media import g711
from callbot.media.g711 import Pcm


class CodecName(enum.Enum):
    PCMU = "PCMU"
    PCMA = "PCMA"
    L16 = "L16"


@dataclass(frozen=True)
class AudioCodec:
    """Encode/decode between a wire codec and int16 PCM at the call's rate.

    L16 is big-endian in RTP (network order, Asterisk slin16) and little-endian
    inside gRPC chunks, so the byte order is part of the codec instance.
    """

    name: CodecName
    big_endian: bool = False

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.name is CodecName.L16 else 1

    def decode(self, data: bytes) -> Pcm:
        if self.name is CodecName.PCMU:
            return g711.ulaw_decode(data)
        if self.name is CodecName.PCMA:
            return g711.alaw_decode(data)
        if len(data) % 2:
            raise ValueError(f"L16 payload of {len(data)} bytes is not a whole number of samples")
        dtype = ">i2" if self.big_endian else "<i2"
        return np.frombuffer(data, dtype=dtype).astype(np.int16)

    def encode(self, pcm: Pcm) -> bytes:
        if self.name is CodecName.PCMU:
            return g711.ulaw_encode(pcm)
        if self.name is CodecName.PCMA:
            return g711.alaw_encode(pcm)
        native_big = sys.byteorder == "big"
        if self.big_endian == native_big:
            return pcm.tobytes()
        return pcm.byteswap().tobytes()

    def silence(self, samples: int) -> bytes:
        return self.encode(np.zeros(samples, dtype=np.int16))
