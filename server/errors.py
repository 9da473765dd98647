"""Error policy: domain errors keep their code; anything unexpected is masked and logged."""

from __future__ import annotations

from typing import Any

import structlog
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from services.errors import DomainError

log = structlog.get_logger("helpdesk.errors")

INTERNAL_MESSAGE = "Internal server error"
INTERNAL_CODE = "INTERNAL_SERVER_ERROR"


def label_request_error(error: GraphQLError) -> None:
    """Errors before execution get a code too: GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED."""
    if error.path is not None or "code" in (error.extensions or {}):
        return
    syntax = error.message.startswith("Syntax Error")
    code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
    error.extensions = {**(error.extensions or {}), "code": code}


def is_unexpected(error: GraphQLError) -> bool:
    """Whether to mask the error; expected ones get their `extensions.code` on the way."""
    original = error.original_error
    if original is None:  # syntax, validation and variable errors: the client's own mistakes
        label_request_error(error)
        return False
    if isinstance(original, DomainError):
        extensions: dict[str, Any] = {"code": original.code}
        error.extensions = {**(error.extensions or {}), **extensions}
        return False
    return not isinstance(original, GraphQLError)


class ApiErrors(MaskErrors):
    """Adds `extensions.code` to expected errors and masks the rest with the request id."""

    def __init__(self) -> None:
        # A plain function, not a bound method: the extension holds no reference to itself,
        # so it is freed as soon as its operation ends rather than by the cycle collector.
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        log.error(
            "unexpected error",
            request_id=request_id,
            path=error.path,
            exc_info=error.original_error,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": INTERNAL_CODE, "requestId": request_id}
        return masked
