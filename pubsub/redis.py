"""Redis pub/sub backend for several server processes.

Redis is never allowed to hold a request for long. Every command runs under a short timeout
behind a circuit breaker: after a command found no answer in time (a hung Redis, an unreachable
host) commands fail at once for a cool-down without touching Redis; then one command probes it
again. Errors that come back at once (connection refused) cost nothing to meet, so they fail the
command without opening the breaker. Callers treat a failure as "not now": a lost publish is
recovered from the event log by cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pubsub.broker import REDIS_COOLDOWN, REDIS_TIMEOUT, BrokerUnavailable

T = TypeVar("T")
log = logging.getLogger("helpdesk.redis")


class CircuitBreaker:
    """Closed: calls go through, each within `timeout` seconds. A call that times out opens it:
    for `cooldown` seconds calls fail at once. Then the next call probes (half-open): its success
    closes the breaker, its failure opens it for another cool-down. Calls meanwhile still fail at
    once."""

    def __init__(
        self,
        *,
        name: str,
        timeout: float = REDIS_TIMEOUT,
        cooldown: float = REDIS_COOLDOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.cooldown = cooldown
        self._clock = clock
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    async def call(self, operation: Callable[[], Awaitable[T]], *, probe: bool = False) -> T:
        """`operation()` within the timeout, or BrokerUnavailable. A `probe` call goes to Redis
        even while the breaker is open (a readiness check must see Redis as it is now)."""
        probing = False
        if self._open_until is not None and not probe:
            if self._probing or self._clock() < self._open_until:
                raise BrokerUnavailable(f"{self.name}: Redis failed recently; not retried yet")
            self._probing = probing = True
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation()
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            if self._open_until is not None or _slow(exc):
                self._trip(exc)
            raise BrokerUnavailable(f"{self.name}: {_describe(exc)}") from exc
        finally:
            if probing:
                self._probing = False
        if self._open_until is not None:
            log.warning("%s: Redis answers again", self.name)
            self._open_until = None
        return result

    def _trip(self, exc: BaseException) -> None:
        if self._open_until is None:
            log.warning(
                "%s: Redis failed (%s); leaving it alone for %.1f s",
                self.name,
                _describe(exc),
                self.cooldown,
            )
        self._open_until = self._clock() + self.cooldown


def _slow(exc: BaseException) -> bool:
    """A failure that took the whole timeout (asyncio's, or the socket's inside redis-py)."""
    return isinstance(exc, TimeoutError | RedisTimeoutError)


def _describe(exc: BaseException) -> str:
    if _slow(exc):
        return "no answer in time"
    return type(exc).__name__


def redis_client(url: str, *, timeout: float) -> aioredis.Redis:
    """A client whose connects and replies give up after `timeout` seconds. A dropped pooled
    connection is retried once, at once; a timeout is not (the breaker decides what follows)."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


class RedisBroker:
    def __init__(
        self, url: str, *, timeout: float = REDIS_TIMEOUT, cooldown: float = REDIS_COOLDOWN
    ) -> None:
        self._url = url
        self._redis: aioredis.Redis | None = None
        self.breaker = CircuitBreaker(name="broker", timeout=timeout, cooldown=cooldown)

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError("RedisBroker used before connect()")
        return self._redis

    async def connect(self) -> None:
        self._redis = redis_client(self._url, timeout=self.breaker.timeout)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, channel: str, message: bytes) -> None:
        redis = self.redis
        await self.breaker.call(lambda: redis.publish(channel, message))

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
            # A blocking read: idle is normal here and never times out.
            async for item in pubsub.listen():
                if item["type"] == "message":
                    yield item["data"]

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()

    async def ping(self) -> bool:
        redis = self.redis
        try:
            return bool(await self.breaker.call(redis.ping, probe=True))
        except BrokerUnavailable:
            return False
