"""Domain errors. Input errors become payload `errors`; the others are top-level GraphQL errors."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from enum import StrEnum

from asyncpg import exceptions as asyncpg_exceptions
from redis import exceptions as redis_exceptions
from tortoise import exceptions as tortoise_exceptions


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    TICKET_FINAL = "TICKET_FINAL"
    CATEGORY_REQUIRES_SUBTYPE = "CATEGORY_REQUIRES_SUBTYPE"
    UNKNOWN_CATEGORY = "UNKNOWN_CATEGORY"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    ATTACHMENT_TOO_LARGE = "ATTACHMENT_TOO_LARGE"
    ATTACHMENT_TYPE_NOT_ALLOWED = "ATTACHMENT_TYPE_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"
    REQUEST_PENDING = "REQUEST_PENDING"


class DomainError(Exception):
    """Base of every error the service layer raises on purpose."""

    code: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class FieldError:
    code: ErrorCode
    message: str
    field: str | None = None


class UserInputError(DomainError):
    """The request cannot be carried out as asked; nothing was changed."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.errors = [FieldError(code, message, field)]

    @classmethod
    def many(cls, errors: list[FieldError]) -> UserInputError:
        first = errors[0]
        error = cls(first.code, first.message, first.field)
        error.errors = list(errors)
        return error


class NotAuthenticated(DomainError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required: send a bearer token.") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    code = "FORBIDDEN"


class BadRequest(DomainError):
    """Invalid query arguments (queries have no payload to carry errors)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.VALIDATION) -> None:
        super().__init__(message)
        self.code = code


class ServiceUnavailable(DomainError):
    """A dependency the request needs cannot be reached now; the same request may be retried."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, dependency: str, retry_after: float = 2.0) -> None:
        super().__init__(f"The service is temporarily unavailable; retry in {retry_after:g} s.")
        self.dependency = dependency
        self.retry_after = retry_after


# asyncpg's client-side errors that mean "the connection is gone", not "the query was wrong".
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


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency ("database", "broker") an exception says is unreachable, or None.

    The one place that tells an outage (refused or lost connections, a server shutting down or
    not yet accepting connections, connection timeouts) from a bug; the exception itself, what
    caused it and what it was raised while handling are all looked at.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 10:
        seen.add(id(current))
        if isinstance(current, ServiceUnavailable):
            return current.dependency
        if _is_connection_failure(current):
            return _dependency_of(current) or _dependency_of(exc) or "database"
        current = current.__cause__ or current.__context__
    return None


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, tortoise_exceptions.DBConnectionError):
        return True
    if isinstance(
        exc,
        asyncpg_exceptions.PostgresConnectionError
        | asyncpg_exceptions.CannotConnectNowError
        | asyncpg_exceptions.AdminShutdownError
        | asyncpg_exceptions.CrashShutdownError
        | asyncpg_exceptions.TooManyConnectionsError,
    ):
        return True
    if isinstance(exc, asyncpg_exceptions.InterfaceError):
        message = str(exc)
        return any(part in message for part in _LOST_CONNECTION)
    if isinstance(exc, redis_exceptions.ConnectionError | redis_exceptions.TimeoutError):
        return True
    if isinstance(exc, ConnectionError | socket.gaierror):
        return True
    if isinstance(exc, TimeoutError):  # a connect or pool wait that gave up, not a slow query
        return _dependency_of(exc) is not None
    if isinstance(exc, OSError):
        # asyncio joins the failures of several addresses into one errno-less OSError.
        return exc.errno in _CONNECTION_ERRNOS or str(exc).startswith("Multiple exceptions")
    return False


def _dependency_of(exc: BaseException) -> str | None:
    """The dependency whose client raised `exc`: by the exception's module, else by its frames."""
    modules = [type(exc).__module__]
    traceback = exc.__traceback__
    while traceback is not None:
        modules.append(traceback.tb_frame.f_globals.get("__name__", ""))
        traceback = traceback.tb_next
    for module in reversed(modules):  # the innermost frame knows best
        for prefix, dependency in _DEPENDENCY_OF_MODULE:
            if module == prefix or module.startswith(prefix + "."):
                return dependency
    return None
