"""Ticket events: written inside the use case's transaction, published after it commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from tortoise import connections

from models import EventKind, Ticket, TicketEvent, TicketStatus
from pubsub import Broker, BrokerUnavailable

EVENTS_CHANNEL = "helpdesk.ticket-events"

log = logging.getLogger("helpdesk.events")


async def record(
    ticket: Ticket,
    kind: EventKind,
    *,
    actor_id: str,
    at: datetime,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    from_category_id: int | None = None,
    to_category_id: int | None = None,
    message_id: int | None = None,
    from_assignee_id: str | None = None,
    to_assignee_id: str | None = None,
    request_id: int | None = None,
    comment: str | None = None,
    internal: bool = False,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Append one event; call inside the transaction that makes the change."""
    await _serialize_event_ids()
    return await TicketEvent.create(
        ticket_id=ticket.id,
        kind=kind,
        actor_id=actor_id,
        at=at,
        from_status=from_status,
        to_status=to_status,
        from_category_id=from_category_id,
        to_category_id=to_category_id,
        message_id=message_id,
        from_assignee_id=from_assignee_id,
        to_assignee_id=to_assignee_id,
        request_id=request_id,
        comment=comment,
        internal=internal,
        data=data,
    )


# Any constant shared by all writers: the lock that orders event ids by commit.
EVENT_ORDER_LOCK = 7_212_014


async def _serialize_event_ids() -> None:
    """Make event ids follow commit order, so a reader that saw id N has seen every id below N.

    PostgreSQL hands out sequence values at insert time, and transactions may commit in another
    order; a transaction-scoped advisory lock, held from the first event until commit, forbids
    that. SQLite writes one transaction at a time already.
    """
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(f"SELECT pg_advisory_xact_lock({EVENT_ORDER_LOCK})")


def envelope(event: TicketEvent, ticket: Ticket) -> bytes:
    """What subscribers need to route an event without a query: who may see it."""
    return orjson.dumps(
        {
            "id": event.id,
            "ticketId": ticket.id,
            "ownerId": ticket.owner_id,
            "assigneeId": ticket.assignee_id,
            "kind": event.kind.value,
            "internal": event.internal,
        }
    )


async def publish(broker: Broker, ticket: Ticket, events: Iterable[TicketEvent]) -> None:
    """Best effort after commit: a lost message is recovered from the event log by cursor."""
    for event in events:
        try:
            await broker.publish(EVENTS_CHANNEL, envelope(event, ticket))
        except BrokerUnavailable as exc:
            # No traceback: the broker says why (and fails at once while Redis is left alone).
            log.error("publishing event %s failed (%s); subscribers will catch up", event.id, exc)
        except Exception:
            log.exception("publishing event %s failed; subscribers will catch up", event.id)
