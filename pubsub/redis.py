"""Redis pub/sub backend for several server processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis


class RedisBroker:
    def __init__(self, url: str) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("RedisBroker used before connect()")
        return self._redis

    async def connect(self) -> None:
        self._redis = aioredis.Redis.from_url(self._url)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, channel: str, message: bytes) -> None:
        await self.redis.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(channel)
        # Only once Redis confirms is every later PUBLISH guaranteed to reach us.
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "subscribe":
                break
        else:
            await pubsub.aclose()
            raise ConnectionError(f"Redis did not confirm the subscription to {channel!r}")

        async def messages() -> AsyncIterator[bytes]:
            async for item in pubsub.listen():
                if item["type"] == "message":
                    yield item["data"]

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (aioredis.ConnectionError, OSError):
            return False
