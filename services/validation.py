"""Bounds on every value a client sends, checked before anything reaches the database.

Each kind of value is bounded in one place here: slugs and user ids by their columns' lengths,
ids and cursor ids by the BIGINT range, free text by its limit; and all text must be storable
on every backend. A value out of bounds names nothing (or is a validation error), exactly as an
unknown value of its kind would; it never reaches a query, where it would be an internal error.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from tortoise.models import Model

from models import Category, MutationReceipt, Ticket, User
from services.errors import ErrorCode, FieldError


def _max_length(model: type[Model], field: str) -> int:
    return int(model._meta.fields_map[field].max_length)  # type: ignore[attr-defined]


def _int_range(model: type[Model], field: str) -> tuple[int, int]:
    constraints = model._meta.fields_map[field].constraints
    return int(constraints["ge"]), int(constraints["le"])


SLUG_MAX = _max_length(Category, "slug")
USER_ID_MAX = _max_length(User, "id")
USER_NAME_MAX = _max_length(User, "name")
SUMMARY_MAX = _max_length(Ticket, "summary")
CLIENT_MUTATION_ID_MAX = _max_length(MutationReceipt, "client_mutation_id")
# Every id a client passes (tickets, messages, events, requests, attachments) is a BIGINT.
BIGINT_MIN, ID_MAX = _int_range(Ticket, "id")
QUESTION_MAX = 10_000
SUMMARY_DERIVED_MAX = 120
BODY_MAX = 10_000
SEARCH_MAX = 200

# U+0000: PostgreSQL text cannot hold it. Lone surrogates: not encodable as UTF-8 at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> bool:
    """Text every backend can store and compare: no U+0000 and no lone surrogate."""
    return _UNSTORABLE.search(value) is None


# Controls, format characters (zero-width spaces, direction marks, BOM), separators: none of
# them shows anything on their own.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def is_blank(text: str) -> bool:
    """True when nothing in the text would be visible: only whitespace, controls, format
    characters such as U+200B, U+202E and U+FEFF, or separators."""
    return all(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in text)


def bounded(value: str, max_length: int) -> str | None:
    """The value when it is 1 to `max_length` storable characters; None otherwise."""
    return value if 0 < len(value) <= max_length and storable(value) else None


def as_slug(value: str) -> str | None:
    """A string that can name a category; anything longer than a slug column names nothing."""
    return bounded(value, SLUG_MAX)


# The id policy, one function per kind of id, used by every entry point: `as_id` for the ids a
# client passes (GraphQL ID arguments, event cursors, the download URL), `as_row_id` for an id
# carried inside a keyset cursor, `as_user_id` for a user's id (a token's `sub`).


def as_user_id(value: str) -> str | None:
    """A string that can name a user (an id is the token's `sub`)."""
    return bounded(value, USER_ID_MAX)


def as_id(value: str | None) -> int | None:
    """Ids are positive ASCII decimal integers within the BIGINT range; anything else names
    nothing."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= ID_MAX else None


def as_instant(value: datetime) -> datetime | None:
    """An instant every backend can store, in UTC: a time without an offset is read as UTC; out
    of range (None) unless within years 1 to 9999 once in UTC (a database driver converts it;
    9999-12-31T23:59-12:00 is already year 10000 there)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def as_row_id(value: Any) -> int | None:
    """An id carried inside a cursor: a JSON integer within the BIGINT range (not a boolean)."""
    if type(value) is not int or not 0 <= value <= ID_MAX:
        return None
    return value


def clean_text(
    value: str | None, *, field: str, max_length: int, errors: list[FieldError], required: bool
) -> str | None:
    """Strip the text; report it empty (when required) or too long into `errors`."""
    if value is None:
        if required:
            errors.append(FieldError(ErrorCode.VALIDATION, f"{field} is required.", field))
        return None
    text = value.strip()
    if is_blank(text):
        errors.append(FieldError(ErrorCode.VALIDATION, f"{field} must not be empty.", field))
        return None
    if not storable(text):
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"{field} contains a character that cannot be stored (U+0000 or a lone surrogate).",
                field,
            )
        )
        return None
    if len(text) > max_length:
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"{field} is {len(text)} characters long; the limit is {max_length}.",
                field,
            )
        )
        return None
    return text


def check_client_mutation_id(value: str | None, errors: list[FieldError]) -> None:
    if value is not None and bounded(value, CLIENT_MUTATION_ID_MAX) is None:
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"clientMutationId must be 1 to {CLIENT_MUTATION_ID_MAX} printable characters.",
                "clientMutationId",
            )
        )


def derive_summary(question: str) -> str:
    """The first line of the question, shortened on a word boundary."""
    line = question.splitlines()[0].strip() if question else ""
    if len(line) <= SUMMARY_DERIVED_MAX:
        return line
    cut = line[: SUMMARY_DERIVED_MAX - 1]
    space = cut.rfind(" ")
    if space > SUMMARY_DERIVED_MAX // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def search_key(*parts: str) -> str:
    """Case-folded text that a LIKE without collation can search in any script."""
    return "\n".join(parts).casefold()
