"""The service layer's clock: every rule that depends on the time (due times, breaches, the
rating window, timestamps of changes) reads `clock.now()`, so tests can set the time instead of
waiting for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The wall clock, unless a test has set it (`set`, `advance`; `reset` restores it)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def now(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        self._fixed = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)

    def reset(self) -> None:
        self._fixed = None


clock = Clock()
