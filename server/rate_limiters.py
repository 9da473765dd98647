"""The Redis backend of the mutation rate limit, and the choice of backend from a URL.

The rule (GCRA) and the in-process backend live in `services/rate_limit.py`. The Redis backend
shares the budget between processes (one atomic script, Redis's own clock) and lets mutations
through while Redis is unreachable or hung: each call waits at most the Redis timeout, and after a
failure none waits at all until the circuit breaker probes Redis again.
"""

from __future__ import annotations

import structlog

from pubsub.broker import REDIS_COOLDOWN, REDIS_TIMEOUT, BrokerUnavailable
from pubsub.redis import CircuitBreaker, redis_client
from services.rate_limit import Limiter, MemoryLimiter, Rate, Unlimited

log = structlog.get_logger("helpdesk.rate_limit")

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
