"""A call's queue of server messages, bounded so a slow client cannot grow it forever."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from callbot.v1 import callbot_pb2 as pb


class Outbox:
    """FIFO of messages for one stream; overflow calls `on_overflow` once."""

    def __init__(self, max_messages: int) -> None:
        self._max = max_messages
        self._items: deque[pb.ServerMessage] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.overflowed = False
        self.on_overflow: Callable[[], None] = lambda: None

    def __len__(self) -> int:
        return len(self._items)

    def put(self, msg: pb.ServerMessage) -> None:
        if self._closed:
            return
        if len(self._items) >= self._max and not self.overflowed:
            # The client is not reading: drop the backlog, keep only what ends the call.
            self.overflowed = True
            self._items.clear()
            self.on_overflow()
        if self.overflowed and not msg.HasField("call_ended") and not msg.HasField("error"):
            return
        self._items.append(msg)
        self._ready.set()

    def close(self) -> None:
        """No more messages; get() returns None once the queue is empty."""
        self._closed = True
        self._ready.set()

    async def get(self) -> pb.ServerMessage | None:
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()
