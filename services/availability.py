"""Whether a failure means a dependency (the database, the broker) is unavailable right now.

Such a failure says nothing about the request: the same request succeeds once the dependency is
back, so callers retry it (or, for live events, hold the event back and deliver it later).
"""

from __future__ import annotations

import asyncpg
import redis.exceptions

# Refused, reset or timed-out connections; PostgreSQL shutting down or starting up (class 57);
# connections lost (class 08) or left unusable (asyncpg's interface and internal client errors,
# e.g. "cannot switch to state 12; another operation is in progress" on a connection that died
# mid-query); the broker's connection errors.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


def dependency_unavailable(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from, says a dependency is unreachable."""
    seen = 0
    while error is not None and seen < 8:  # the ORM wraps the driver's errors
        if isinstance(error, _UNAVAILABLE):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False
