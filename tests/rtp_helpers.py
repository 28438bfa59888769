"""Real-peer helpers for RTP tests: a UDP peer socket and a pcap reader."""

from __future__ import annotations

import asyncio
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from callbot.media import g711
from callbot.media.rtp import RtpPacket


@dataclass
class Received:
    data: bytes
    addr: tuple[str, int]
    at: float


@dataclass
class UdpPeer(asyncio.DatagramProtocol):
    """A UDP socket on 127.0.0.1 that records what it receives, with arrival times."""

    received: list[Received] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(Received(data, addr, asyncio.get_running_loop().time()))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    def rtp(self) -> list[RtpPacket]:
        return [RtpPacket.parse(r.data) for r in self.received if r.data[1] & 0x7F < 72]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def udp_peer(port: int = 0) -> UdpPeer:
    loop = asyncio.get_running_loop()
    _, peer = await loop.create_datagram_endpoint(UdpPeer, local_addr=("127.0.0.1", port))
    return peer


def pcap_udp_payloads(path: Path) -> Iterator[tuple[float, bytes]]:
    """(capture time, UDP payload) of each IPv4/UDP packet of a classic pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        offset = {1: 14, 113: 16, 0: 4, 101: 0}.get(linktype)
        if offset is None:
            raise ValueError(f"unsupported pcap link type {linktype}")
        if linktype == 1 and frame[12:14] == b"\x81\x00":
            offset += 4
        ip = frame[offset:]
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4 :]
        yield sec + frac / (1e9 if nano else 1e6), bytes(udp[8:])


def decode_8k(path: Path) -> npt.NDArray[np.int16]:
    """A clip as 8 kHz mono int16, decoded and resampled by ffmpeg (a real peer's view)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-af", "aresample=8000", "-ac", "1",
         "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def send_ulaw_at_1x(
    peer: UdpPeer, port: int, audio: npt.NDArray[np.int16], ssrc: int = 0x55, lead_s: float = 0.05
) -> list[asyncio.TimerHandle]:
    """Schedule `audio` as 20 ms µ-law RTP packets on an absolute 1x schedule.

    Returns the timer handles; cancel them when the test ends early.
    """
    loop = asyncio.get_running_loop()
    start = loop.time() + lead_s
    handles = []
    for i in range(audio.size // 160):
        pcm = audio[160 * i : 160 * (i + 1)]
        data = RtpPacket(0, i % 65536, 160 * i, ssrc, g711.ulaw_encode(pcm)).serialize()
        handles.append(loop.call_at(start + 0.02 * i, peer.send, data, port))
    return handles
