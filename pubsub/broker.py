"""The broker interface and its in-process backend."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

# Redis answers in well under a millisecond: a command that takes longer than this has failed.
REDIS_TIMEOUT = 0.25
# Seconds Redis is left alone after a command timed out, before it is probed again.
REDIS_COOLDOWN = 5.0


class BrokerUnavailable(ConnectionError):
    """The broker did not take the message: it failed, hung, or is being left alone for a while."""


class Broker(Protocol):
    """Publish bytes on a channel; subscribers get every message published after they joined.

    `publish` raises BrokerUnavailable (soon: it never waits long) when the message was not taken.
    """

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]: ...

    async def ping(self) -> bool: ...


class MemoryBroker:
    """Single-process broker: fan-out to per-subscriber queues."""

    def __init__(self) -> None:
        self._queues: defaultdict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._queues.clear()

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._queues.get(channel, ()):
            queue.put_nowait(message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queues[channel].add(queue)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._queues[channel].discard(queue)
            if not self._queues[channel]:
                del self._queues[channel]

    async def ping(self) -> bool:
        return True
