"""Bounds on every value a client sends, checked before anything reaches the database.

Each kind of value is bounded in one place here: slugs and user ids by their columns' lengths,
ids and cursor ids by the BIGINT range, free text by its limit; and all text must be storable
on every backend. A value out of bounds names nothing (or is a validation error), exactly as an
unknown value of its kind would; it never reaches a query, where it would be an internal error.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tortoise.models import Model

from models import Category, MutationReceipt, Ticket, User
from services.errors import BadRequest, ErrorCode, FieldError


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


# The id policy, one home for every kind of id a client passes or holds.
#
# A client names an object by its global id: base64 of "TypeName:key" (the Relay convention, as
# Strawberry's `to_base64` and `GlobalID` spell it), so the type is recoverable from it and ids
# of different types never collide. `global_id` makes one; `as_id(value, type_name)`
# (`as_user_ref` for a user) reads one back for the type a field expects, and a global id of
# another type, or anything malformed, names nothing (None), exactly as an unknown id does.
# `as_event_cursor` reads the `after` of the event log, `as_row_id` an id carried inside a keyset
# cursor, `as_user_id` a user's key (a token's `sub`).

TICKET = "Ticket"
MESSAGE = "Message"
EVENT = "TicketEvent"
USER = "User"
CATEGORY = "Category"
ATTACHMENT = "Attachment"
REQUEST = "RecategorizationRequest"
SLA_POLICY = "SlaPolicy"
RATING = "SatisfactionRating"


# Ids the service itself acts under (the SLA scheduler writes its breaches as `system:sla`): no
# token may claim one, and no ticket is assigned to one.
SYSTEM_USER_PREFIX = "system:"


def is_system_user(user_id: str) -> bool:
    return user_id.startswith(SYSTEM_USER_PREFIX)


def as_user_id(value: str) -> str | None:
    """A string that can name a user (a user's key is the token's `sub`)."""
    return bounded(value, USER_ID_MAX)


def as_row_number(value: str) -> int | None:
    """A row's key as text: a positive ASCII decimal integer within the BIGINT range, written
    without leading zeros (one spelling per row); anything else names nothing."""
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= ID_MAX and str(number) == value else None


# The types whose objects have a global id, with how each reads its key: adding a type to
# `Node` is one line here (and its loader in resolvers/nodes.py).
NODE_KEYS: dict[str, Callable[[str], int | str | None]] = {
    TICKET: as_row_number,
    MESSAGE: as_row_number,
    EVENT: as_row_number,
    USER: as_user_id,
    CATEGORY: as_row_number,
    ATTACHMENT: as_row_number,
    REQUEST: as_row_number,
    SLA_POLICY: as_row_number,
    RATING: as_row_number,
}

# The longest global id there is: the longest type name and the longest user id, each character
# four bytes in UTF-8, in base64. Anything longer is refused before it is decoded.
GLOBAL_ID_MAX = 4 * -(-(max(map(len, NODE_KEYS)) + 1 + 4 * USER_ID_MAX) // 3)


def global_id(type_name: str, key: int | str) -> str:
    """The id clients hold for the object of this type with this key."""
    return base64.b64encode(f"{type_name}:{key}".encode()).decode("ascii")


def parse_global_id(value: str | None) -> tuple[str, int | str] | None:
    """The type name and key a global id stands for; None for anything that is not the one
    spelling of an object's id of a known type. (Stricter than Strawberry's `from_base64`, which
    skips characters outside the alphabet: here one object has one id.)"""
    if value is None or not 0 < len(value) <= GLOBAL_ID_MAX or not value.isascii():
        return None
    try:
        raw = base64.b64decode(value, validate=True)
        type_name, _, key = raw.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    read_key = NODE_KEYS.get(type_name)
    if read_key is None or base64.b64encode(raw).decode("ascii") != value:
        return None
    parsed = read_key(key)
    return None if parsed is None else (type_name, parsed)


def as_id(value: str | None, type_name: str) -> int | None:
    """The row key of the object of `type_name` a global id names; None when it is malformed, of
    an unknown type or of another type: such an id names nothing, like an unknown one."""
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != type_name or not isinstance(parsed[1], int):
        return None
    return parsed[1]


def as_user_ref(value: str | None) -> str | None:
    """The user (their `sub`) a user's global id names; None as `as_id` answers it."""
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != USER or not isinstance(parsed[1], str):
        return None
    return parsed[1]


def as_event_cursor(value: str) -> int | None:
    """An event log position (`after`): an event's id as returned, or a plain decimal event
    number as earlier versions returned (cursors clients stored keep working; "0" is before the
    first event). None when it is neither."""
    legacy = as_row_number(value)
    return legacy if legacy is not None else as_id(value, EVENT)


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


def instant_argument(name: str, moment: datetime | None) -> datetime | None:
    """A query argument's instant (`as_instant`); out of range is a bad request naming it."""
    if moment is None:
        return None
    instant = as_instant(moment)
    if instant is None:
        raise BadRequest(f"{name} is out of range.")
    return instant


def period_arguments(
    start_name: str, start: datetime | None, end_name: str, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """A half-open period [start, end) from two query arguments: each in range, and start
    before end when both are given."""
    first = instant_argument(start_name, start)
    last = instant_argument(end_name, end)
    if first is not None and last is not None and first >= last:
        raise BadRequest(f"{start_name} must be earlier than {end_name}.")
    return first, last


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
