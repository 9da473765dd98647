"""The service layer's clock: every rule that depends on the time (due times, breaches, the
rating window, timestamps of changes, presence lapsing) reads `clock.now()`, so tests can set the
time instead of waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta


class Clock:
    """The wall clock, unless a test has set it (`set`, `advance`; `reset` restores it)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._sleepers: set[asyncio.Future[None]] = set()

    def now(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        self._fixed = moment.astimezone(UTC)
        self._wake()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)

    def reset(self) -> None:
        self._fixed = None
        self._wake()

    async def sleep_until(self, moment: datetime) -> None:
        """Return once `now()` has reached `moment`: by waiting on the wall clock, or as soon as
        a test sets the clock past it."""
        while (wait := (moment - self.now()).total_seconds()) > 0:
            woken = asyncio.get_running_loop().create_future()
            self._sleepers.add(woken)
            try:
                # A set clock never moves by itself: only a test setting it wakes the sleeper.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait if self._fixed is None else None):
                        await woken
            finally:
                self._sleepers.discard(woken)

    def _wake(self) -> None:
        for sleeper in list(self._sleepers):
            if not sleeper.done() and not sleeper.get_loop().is_closed():
                sleeper.get_loop().call_soon_threadsafe(_settle, sleeper)


def _settle(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


clock = Clock()
