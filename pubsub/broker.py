"""The broker interface and its in-process backend."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

# Redis answers in well under a millisecond: a command that takes longer than this has failed.
REDIS_TIMEOUT = 0.25
# Seconds Redis is left alone after a command timed out, before it is probed again.
REDIS_COOLDOWN = 5.0
# A lost subscription is tried again after this long, doubling up to the most.
RESUBSCRIBE_FIRST, RESUBSCRIBE_MOST = 0.1, 5.0

log = logging.getLogger("helpdesk.pubsub")


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


def _nothing() -> None:
    pass


async def follow(
    broker: Broker,
    channel: str,
    received: Callable[[bytes], None],
    *,
    connected: Callable[[], None] = _nothing,
    lost: Callable[[], None] = _nothing,
) -> None:
    """Keep one subscription to `channel` for as long as the task runs: every message goes to
    `received`; after each (re)connection `connected()` runs (catch up on what may have been
    missed meanwhile), after each loss `lost()`; a lost subscription is tried again with a
    backoff."""
    backoff = RESUBSCRIBE_FIRST
    while True:
        try:
            async with broker.subscribe(channel) as messages:
                backoff = RESUBSCRIBE_FIRST
                connected()
                async for message in messages:
                    received(message)
            raise ConnectionError("the subscription ended")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            lost()
            log.warning("%s: broker unavailable (%s); retrying in %.1fs", channel, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RESUBSCRIBE_MOST)
