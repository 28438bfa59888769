"""Shared by the benchmarks that start a `callbot serve` subprocess."""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


async def wait_serving(port: int, timeout_s: float = 300.0) -> None:
    """Wait until the server reports SERVING (it loads its models first)."""
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout_s:.0f} s")
            await asyncio.sleep(0.5)
