"""SIP transports on port 0: UDP and TCP end up on one number even when TCP's is taken."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest

from callbot.sip.transport import SipTransports


async def test_a_taken_tcp_number_rebinds_both_on_a_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    real = loop.create_server
    tried: list[int] = []

    async def first_taken(*args: Any, **kwargs: Any) -> asyncio.Server:
        tried.append(args[2])  # the port: another socket holds its number for TCP
        if len(tried) == 1:
            raise OSError(errno.EADDRINUSE, "address already in use")
        return await real(*args, **kwargs)

    monkeypatch.setattr(loop, "create_server", first_taken)
    t = SipTransports(lambda *_: None, 65535)
    await t.start("127.0.0.1", 0, tcp=True)
    try:
        assert len(tried) == 2 and t.udp_port == t.tcp_port == tried[1]
    finally:
        await t.close()


async def test_a_configured_port_that_is_taken_is_an_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        t = SipTransports(lambda *_: None, 65535)
        with pytest.raises(OSError):
            await t.start("127.0.0.1", port, tcp=True)
        await t.close()
