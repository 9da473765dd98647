"""How many items each list field may answer, declared once on the field itself.

A `ListSize` is attached to the field as Strawberry metadata (`metadata=SIZE.metadata`): the
resolver reads that many items and no more, and the query cost limit (`server/limits.py`) reads
the same declaration off the schema to count what an operation may return before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError

from schema.enums import TicketStatus

METADATA_KEY = "helpdesk.list_size"
PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class ListSize:
    """At most `maximum` items. With `argument`, the client asks for up to `maximum` through it
    (`default` when omitted); with `from_page`, the list is a connection's page, sized by the
    `first`/`last` of the field that returned the connection."""

    maximum: int
    default: int | None = None
    argument: str | None = None
    from_page: bool = False

    @property
    def metadata(self) -> dict[str, Any]:
        return {METADATA_KEY: self}

    def items(self, requested: int | None) -> int:
        """How many items to read for the requested size (None: the default)."""
        if requested is None:
            return self.default if self.default is not None else self.maximum
        self.check(requested, str(self.argument))
        return requested

    def check(self, count: int, what: str) -> None:
        """Refuse `count` items (a typed VALIDATION error) unless 0 to `maximum`."""
        if not 0 <= count <= self.maximum:
            raise GraphQLError(
                f"{what} must be between 0 and {self.maximum}.",
                extensions={"code": "VALIDATION", "limit": "page", "max": self.maximum},
            )


def size_of(field_extensions: dict[str, Any] | None) -> ListSize | None:
    """The declaration on a GraphQL field built by Strawberry, if it has one."""
    definition = (field_extensions or {}).get("strawberry-definition")
    metadata = getattr(definition, "metadata", None) or {}
    size = metadata.get(METADATA_KEY)
    return size if isinstance(size, ListSize) else None


# Connections: `first`/`last` 0..100, 20 when neither is given (as services/pagination.py pages).
PAGE = ListSize(maximum=100, default=20, from_page=True)
# A ticket's own lists: the first `first` items, oldest first (page the whole log with
# `ticketEvents`).
TICKET_LIST = ListSize(maximum=100, default=50, argument="first")
# Files of one ticket or one message: HELPDESK_ATTACHMENTS_PER_MESSAGE may not exceed it.
ATTACHMENTS = ListSize(maximum=20)
# Seeded by migrations: the category tree and the Help page's entries.
CATEGORIES = ListSize(maximum=20)
FAQ = ListSize(maximum=100)
STATUSES = ListSize(maximum=len(TicketStatus))
# `nodes(ids:)`: objects refetched by id in one request (GitHub's `nodes` takes 100 too).
NODES = ListSize(maximum=100)
# Satisfaction scores 1 to 5, each listed.
SCORES = ListSize(maximum=5)
# Current SLA policies: one per leaf category and urgency.
SLA_POLICIES = ListSize(maximum=2 * CATEGORIES.maximum)
WEEKDAYS = ListSize(maximum=7)
# The people a ticket's presence lists: HELPDESK_PRESENCE_PER_TICKET may not exceed it.
PRESENCE = ListSize(maximum=100)
