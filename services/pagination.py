"""Keyset (cursor) pagination over an ordered column with the id as tie-breaker."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from models.rows import fetch
from services.errors import BadRequest
from services.validation import BIGINT_MIN, ID_MAX, as_instant, as_row_id

MAX_PAGE = 100
DEFAULT_PAGE = 20

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def check(self) -> None:
        if self.first is not None and self.last is not None:
            raise BadRequest("Pass either first or last, not both.")
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise BadRequest(f"{name} must be between 0 and {MAX_PAGE}.")
        if self.after is not None and self.last is not None:
            raise BadRequest("Use after with first, before with last.")
        if self.before is not None and self.first is not None:
            raise BadRequest("Use after with first, before with last.")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]
    has_next_page: bool
    has_previous_page: bool


def encode_cursor(value: Any, row_id: int) -> str:
    raw = value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(orjson.dumps([raw, row_id])).decode()


def decode_cursor(cursor: str, *, is_datetime: bool) -> tuple[Any, int]:
    """The (value, id) a cursor carries. Anything the database could not compare as it is (an id
    beyond a BIGINT, a value of another type) is an invalid cursor."""
    try:
        raw, raw_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        row_id = as_row_id(raw_id)
        if row_id is None:
            raise ValueError
        return (_instant(raw) if is_datetime else _plain(raw)), row_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise BadRequest("Invalid cursor.") from exc


def _instant(raw: Any) -> datetime:
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None or as_instant(value) is None:
        raise ValueError
    return value


def _plain(raw: Any) -> Any:
    if raw is None or isinstance(raw, str) or (type(raw) is int and BIGINT_MIN <= raw <= ID_MAX):
        return raw
    raise ValueError


async def paginate(
    query: QuerySet[Any], *, column: str, descending: bool, args: PageArgs
) -> Page[Any]:
    """One SELECT of limit+1 rows after/before the cursor; never OFFSET."""
    args.check()
    backward = args.last is not None
    requested = args.last if backward else args.first
    limit = DEFAULT_PAGE if requested is None else requested
    cursor = args.before if backward else args.after
    # Walking backward reads the mirrored order, then flips the rows.
    scan_desc = descending != backward
    if cursor is not None:
        value, row_id = decode_cursor(cursor, is_datetime=column.endswith("_at"))
        op = "lt" if scan_desc else "gt"
        # The plain bound lets the database start the index scan at the cursor; the OR alone
        # would make it walk every row before it.
        query = query.filter(
            Q(**{f"{column}__{op}e": value}),
            Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"id__{op}": row_id}),
        )
    sign = "-" if scan_desc else ""
    rows = await fetch(query.order_by(f"{sign}{column}", f"{sign}id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
    items = [(encode_cursor(getattr(row, column), row.id), row) for row in rows]
    if backward:
        return Page(items, has_next_page=cursor is not None, has_previous_page=more)
    return Page(items, has_next_page=more, has_previous_page=cursor is not None)
