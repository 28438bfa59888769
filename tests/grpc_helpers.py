"""An in-process callbot server and a small Converse client for tests."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt

from callbot.config import Settings
from callbot.server.app import CallbotServer
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

Stream = Any  # grpc.aio.StreamStreamCall[pb.ClientMessage, pb.ServerMessage]


@asynccontextmanager
async def running_server(tmp_path: Path, **overrides: Any) -> AsyncIterator[CallbotServer]:
    values: dict[str, Any] = {
        "grpc_address": "127.0.0.1:0",
        "metrics_address": "127.0.0.1:0",
        "records_dir": str(tmp_path / "records"),
        "recordings_dir": str(tmp_path / "recordings"),
        "server_id": "test",
        "stt_languages": "",  # tests that need the models ask for them
        "default_flow": "echo",
    }
    values.update(overrides)
    server = CallbotServer(Settings.from_mapping(values))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def channel_to(server: CallbotServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


def start_message(**fields: Any) -> pb.ClientMessage:
    fields.setdefault("media_mode", pb.MEDIA_MODE_GRPC)
    fields.setdefault("codec", pb.CODEC_PCMU)
    fields.setdefault("sample_rate_hz", 8000)
    return pb.ClientMessage(start=pb.CallStart(**fields))


def open_call(channel: grpc.aio.Channel, **metadata: str) -> Stream:
    stub = pb_grpc.CallbotStub(channel)
    return stub.Converse(metadata=tuple(metadata.items()) or None)  # type: ignore[call-arg]


async def read_until(stream: Stream, kind: str, timeout: float = 10.0) -> list[pb.ServerMessage]:
    """Read messages up to and including the first of `kind`."""
    seen: list[pb.ServerMessage] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await stream.read()
            if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
                raise AssertionError(f"stream ended before {kind}: {seen}")
            seen.append(msg)
            if msg.WhichOneof("message") == kind:
                return seen


async def read_all(stream: Stream, timeout: float = 30.0) -> list[pb.ServerMessage]:
    """Read to the end of the stream; a non-OK status ends it too (see stream.code())."""
    seen: list[pb.ServerMessage] = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                msg = await stream.read()
            except grpc.aio.AioRpcError:
                return seen
            if msg is grpc.aio.EOF:  # type: ignore[attr-defined]
                return seen
            seen.append(msg)


def load_wav(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() == 2:
            data = data.reshape(-1, 2)
        return data.astype(np.int16), w.getframerate()


def to_8k(pcm16k: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Crude 2:1 decimation with a short averaging filter (test input only)."""
    x = pcm16k.astype(np.float64)
    y = np.convolve(x, np.array([0.25, 0.5, 0.25]), mode="same")[::2]
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)
