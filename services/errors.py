"""Domain errors. Input errors become payload `errors`; the others are top-level GraphQL errors."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    RATING_CLOSED = "RATING_CLOSED"
    PRESENCE_LIMIT = "PRESENCE_LIMIT"


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

    @classmethod
    def not_found(cls, what: str, field: str) -> UserInputError:
        """`what` does not exist, or the viewer may not see it: the two are never told apart."""
        return cls(ErrorCode.NOT_FOUND, f"{what} not found.", field)


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


# What a client is told when a dependency is unreachable, and how long to wait before retrying.
RETRY_AFTER_SECONDS = 2
UNAVAILABLE_MESSAGE = f"The service is temporarily unavailable; retry in {RETRY_AFTER_SECONDS} s."
# The code of an unexpected failure, answered masked.
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"


class ServiceUnavailable(DomainError):
    """A dependency the request needs cannot be reached now; the same request may be retried."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, dependency: str) -> None:
        super().__init__(UNAVAILABLE_MESSAGE)
        self.dependency = dependency
