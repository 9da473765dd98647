"""Queries and helpers the tests share."""

from __future__ import annotations

import socket
from typing import Any

from services.validation import ID_MAX, global_id, parse_global_id
from tests.conftest import Api


def row_key(object_id: str) -> int:
    """The storage key of an object a response named, to arrange state directly in storage."""
    parsed = parse_global_id(object_id)
    assert parsed is not None and isinstance(parsed[1], int), object_id
    return parsed[1]


def missing_id(type_name: str) -> str:
    """A well-formed id of `type_name` that names no object (no row has the largest key)."""
    return global_id(type_name, ID_MAX)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


TICKET_FIELDS = """
  id number summary question urgent status rejectionReason version
  createdAt updatedAt closedAt
  category { slug } owner { id sub name role } assignee { sub }
  followUpOf { id number }
"""

CREATE = (
    """
mutation Create($input: CreateTicketInput!) {
  createTicket(input: $input) {
    ticket { %s }
    errors { code field message }
    clientMutationId
  }
}"""
    % TICKET_FIELDS
)

REPLY = """
mutation Reply($input: ReplyToTicketInput!) {
  replyToTicket(input: $input) {
    ticket { id status version }
    message { id body internal author { sub } }
    errors { code field message }
    clientMutationId
  }
}"""

TICKET = (
    """
query One($id: ID!) {
  ticket(id: $id) { %s messages { id body internal author { sub } } lastMessage { body }
    events { kind fromStatus toStatus actor { sub } message { body } } }
}"""
    % TICKET_FIELDS
)

TICKETS = """
query List($filter: TicketFilter, $orderBy: TicketOrder, $first: Int, $after: String,
           $last: Int, $before: String) {
  tickets(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last,
          before: $before) {
    totalCount
    countsByStatus { status count }
    edges { cursor node { id number summary status urgent category { slug } owner { sub } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def create_ticket(
    api: Api, as_: str, role: str = "customer", **fields: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {"categorySlug": "app-help", "question": "How do I create a campaign?"}
    values.update(fields)
    data = await api.gql(CREATE, {"input": values}, as_=as_, role=role)
    payload = data["createTicket"]
    assert payload["errors"] == [], payload["errors"]
    return payload["ticket"]


async def numbers(api: Api, as_: str, role: str = "customer", **variables: Any) -> list[int]:
    data = await api.gql(TICKETS, variables, as_=as_, role=role)
    return [edge["node"]["number"] for edge in data["tickets"]["edges"]]


async def given_status(ticket_id: str, status: str, assignee: str | None = None) -> None:
    """Arrange a ticket's state directly in storage (the workflow mutations are tested apart)."""
    from models import Ticket, User
    from services.clock import clock

    if assignee is not None:
        await User.get_or_create(id=assignee, defaults={"name": assignee, "role": "agent"})
    closed_at = clock.now() if status in ("CLOSED", "REJECTED") else None
    await Ticket.filter(id=row_key(ticket_id)).update(
        status=status, assignee_id=assignee, closed_at=closed_at
    )


async def given_created_at(ticket_id: str, when: str) -> None:
    """Arrange a creation instant (ISO 8601) directly in storage."""
    from datetime import datetime

    from models import Ticket

    at = datetime.fromisoformat(when)
    await Ticket.filter(id=row_key(ticket_id)).update(created_at=at, updated_at=at)


async def given_first_response_due(number: int, due: Any) -> None:
    """Arrange a ticket's first-response due time (found by its human number) directly in
    storage, for tests with real processes, whose clock cannot be set."""
    from models import Ticket

    await Ticket.filter(number=number).update(
        first_response_due_at=due, sla_due_at=due, sla_check_at=due
    )
