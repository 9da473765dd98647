"""Mutations are rate limited per user: a sustained rate with a burst allowance.

The rule is GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per user):
each mutation moves the user's "theoretical arrival time" one interval forward; a mutation is
refused while that time is more than `burst` intervals ahead of now, and the refusal says how
long to wait. The memory backend here serves one process; the Redis backend
(`server/rate_limiters.py`) shares the budget between processes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
class Unlimited:
    async def acquire(self, key: str) -> float:
        return 0.0

    async def close(self) -> None:
        return None


async def check_mutation(limiter: Limiter, viewer: Viewer | None) -> None:
    """Each mutation of a signed-in user spends from their budget; a refusal changes nothing."""
    if viewer is None:
        return  # the mutation itself refuses anonymous callers
    wait = await limiter.acquire(f"user:{viewer.id}")
    if wait > 0:
        raise RateLimited(wait)
