"""Which failures mean a dependency is unavailable (retry later) rather than a bug or bad input."""

from __future__ import annotations

import asyncpg
import pytest
import redis.exceptions
from tortoise.exceptions import IntegrityError, OperationalError

from services.availability import dependency_unavailable


def _raised_from(error: BaseException, cause: BaseException) -> BaseException:
    try:
        raise error from cause
    except BaseException as raised:
        return raised


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 12"),
        redis.exceptions.ConnectionError("Error 111 connecting"),
        _raised_from(OperationalError("wrapped"), ConnectionResetError()),
    ],
    ids=lambda e: type(e).__name__,
)
def test_unavailable(error: BaseException) -> None:
    assert dependency_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        None,
        ValueError("bad input"),
        IntegrityError("duplicate key"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        FileNotFoundError("no such upload"),
        _raised_from(OperationalError("syntax"), asyncpg.exceptions.PostgresSyntaxError("x")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_not_unavailable(error: BaseException | None) -> None:
    assert not dependency_unavailable(error)
