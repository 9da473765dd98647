"""Mutations are rate limited per user: a sustained rate with a burst allowance.

The rule is GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per user):
each mutation moves the user's "theoretical arrival time" one interval forward; a mutation is
refused while that time is more than `burst` intervals ahead of now, and the refusal says how
long to wait. The memory backend serves one process; the Redis backend shares the budget
between processes (one atomic script, Redis's own clock) and lets mutations through while
Redis is unreachable or hung: each call waits at most the Redis timeout, and after a failure none
waits at all until the circuit breaker probes Redis again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from pubsub.broker import REDIS_COOLDOWN, REDIS_TIMEOUT, BrokerUnavailable
from pubsub.redis import CircuitBreaker, redis_client
from services.errors import ErrorCode, UserInputError
from services.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Rate:
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def window(self) -> float:
        return self.interval * self.burst


log = structlog.get_logger("helpdesk.rate_limit")


class RateLimited(UserInputError):
    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            ErrorCode.RATE_LIMITED, f"Too many changes in a short time: retry in {seconds} s."
        )
        self.retry_after = retry_after


def gcra(tat: float | None, now: float, rate: Rate) -> tuple[float | None, float]:
    """(new arrival time, or None when refused; seconds to wait when refused)."""
    start = now if tat is None or tat < now else tat
    new_tat = start + rate.interval
    allowed_at = new_tat - rate.window
    if allowed_at > now:
        return None, allowed_at - now
    return new_tat, 0.0


class Limiter(Protocol):
    async def acquire(self, key: str) -> float:
        """Take one unit for `key`; 0 when allowed, else the seconds to wait."""
        ...

    async def close(self) -> None: ...


class MemoryLimiter:
    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def acquire(self, key: str) -> float:
        now = self._clock()
        new_tat, wait = gcra(self._tat.get(key), now, self.rate)
        if new_tat is None:
            return wait
        self._tat[key] = new_tat
        if len(self._tat) > 10_000:  # forget users whose budget is whole again
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return 0.0

    async def close(self) -> None:
        self._tat.clear()


# KEYS[1]: the user's key. ARGV: interval, window (seconds). Returns the wait as a string.
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allowed_at = new_tat - window
if allowed_at > now then return tostring(allowed_at - now) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return '0'
"""


class RedisLimiter:
    def __init__(
        self,
        url: str,
        rate: Rate,
        prefix: str = "helpdesk:rate:",
        *,
        timeout: float = REDIS_TIMEOUT,
        cooldown: float = REDIS_COOLDOWN,
    ) -> None:
        self.rate = rate
        self.breaker = CircuitBreaker(name="rate limiter", timeout=timeout, cooldown=cooldown)
        self._redis = redis_client(url, timeout=timeout)
        self._script = self._redis.register_script(_GCRA_SCRIPT)
        self._prefix = prefix

    async def acquire(self, key: str) -> float:
        keys, args = [self._prefix + key], [self.rate.interval, self.rate.window]
        try:
            wait = await self.breaker.call(lambda: self._script(keys=keys, args=args))
        except BrokerUnavailable as exc:
            # The limit protects the service; it never takes writes down with Redis.
            log.debug("rate limit unavailable, allowing", error=str(exc))
            return 0.0
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


class Unlimited:
    async def acquire(self, key: str) -> float:
        return 0.0

    async def close(self) -> None:
        return None


def limiter_from_url(
    url: str,
    rate: Rate | None,
    *,
    timeout: float = REDIS_TIMEOUT,
    cooldown: float = REDIS_COOLDOWN,
) -> Limiter:
    """`memory://` or `redis://…`; no rate means no limit. For Redis, how long a call may wait
    and how long Redis is left alone after a failure (seconds)."""
    if rate is None:
        return Unlimited()
    if url.startswith("memory://"):
        return MemoryLimiter(rate)
    if url.startswith(("redis://", "rediss://")):
        return RedisLimiter(url, rate, timeout=timeout, cooldown=cooldown)
    raise ValueError(f"unsupported rate limit URL scheme: {url.split(':', 1)[0]!r}")


async def check_mutation(limiter: Limiter, viewer: Viewer | None) -> None:
    """Each mutation of a signed-in user spends from their budget; a refusal changes nothing."""
    if viewer is None:
        return  # the mutation itself refuses anonymous callers
    wait = await limiter.acquire(f"user:{viewer.id}")
    if wait > 0:
        raise RateLimited(wait)
