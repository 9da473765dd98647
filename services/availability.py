"""Whether a failure means a dependency (the database, the broker) is unavailable right now.

Such a failure says nothing about the request: the same request succeeds once the dependency is
back, so callers retry it (or, for live events, hold the event back and deliver it later), the API
answers SERVICE_UNAVAILABLE, and metrics count it apart from bugs. This is the one place that
tells an outage from a bug.
"""

from __future__ import annotations

import errno
import socket

import asyncpg
import redis.exceptions
from tortoise.exceptions import DBConnectionError

from services.errors import ServiceUnavailable

# Refused, reset or timed-out connections; PostgreSQL shutting down or starting up (class 57);
# connections lost (class 08) or left unusable (asyncpg's internal client errors, e.g. "cannot
# switch to state 12; another operation is in progress" on a connection that died mid-query);
# the broker's connection errors.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    DBConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.TooManyConnectionsError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# asyncpg's interface errors that mean "the connection is gone", not "the call was wrong".
_LOST_CONNECTION = (
    "another operation is in progress",
    "cannot switch to state",
    "connection is closed",
    "connection was closed",
    "pool is closing",
    "pool is closed",
)
_CONNECTION_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.EADDRNOTAVAIL,
    }
)
_DEPENDENCY_OF_MODULE = (
    ("asyncpg", "database"),
    ("tortoise", "database"),
    ("aiosqlite", "database"),
    ("redis", "broker"),
    ("pubsub", "broker"),
)


def dependency_unavailable(error: BaseException | None) -> bool:
    """True when `error`, or an error it was raised from, says a dependency is unreachable."""
    return unavailable_dependency(error) is not None


def unavailable_dependency(error: BaseException | None) -> str | None:
    """Which dependency ("database", "broker") `error` says is unreachable, or None.

    The error itself, what caused it and what it was raised while handling are all looked at
    (the ORM wraps the driver's errors); the dependency is told by the library that raised it.
    """
    seen = 0
    current = error
    while current is not None and seen < 8:
        if isinstance(current, ServiceUnavailable):
            return current.dependency
        if _unreachable(current):
            return _dependency_of(current) or (error and _dependency_of(error)) or "database"
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _unreachable(error: BaseException) -> bool:
    if isinstance(error, _UNAVAILABLE):
        return True
    if isinstance(error, asyncpg.exceptions.InterfaceError):
        return any(part in str(error) for part in _LOST_CONNECTION)
    if isinstance(error, OSError):
        # asyncio joins the failures of several addresses into one OSError without an errno.
        return error.errno in _CONNECTION_ERRNOS or str(error).startswith("Multiple exceptions")
    return False


def _dependency_of(error: BaseException) -> str | None:
    """The dependency whose client raised `error`: by its innermost frame, else its module."""
    modules = [type(error).__module__]
    traceback = error.__traceback__
    while traceback is not None:
        modules.append(traceback.tb_frame.f_globals.get("__name__", ""))
        traceback = traceback.tb_next
    for module in reversed(modules):
        for prefix, dependency in _DEPENDENCY_OF_MODULE:
            if module == prefix or module.startswith(prefix + "."):
                return dependency
    return None
