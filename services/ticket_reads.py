"""Reading tickets as the viewer may see them: one ticket, the history list with its totals,
the event log, and the batch reads behind the loaders. Visibility comes from `services.visibility`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Max
from tortoise.queryset import QuerySet

from models import (
    Message,
    RecategorizationRequest,
    RequestStatus,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from models.rows import fetch, first_of_each
from services import read_state, sla, visibility
from services.categories import category_ids_under
from services.errors import BadRequest, Forbidden
from services.pagination import DEFAULT_PAGE, MAX_PAGE, Page, PageArgs, paginate
from services.validation import (
    EVENT,
    SEARCH_MAX,
    as_event_cursor,
    as_user_ref,
    bounded,
    global_id,
    period_arguments,
    search_key,
)
from services.viewer import Viewer, require_viewer


async def get_ticket(*, viewer: Viewer | None, ticket_id: int) -> Ticket | None:
    """The ticket, or None when it does not exist or the viewer may not see it."""
    viewer = require_viewer(viewer)
    return await visibility.tickets(viewer).get_or_none(id=ticket_id)


async def get_tickets(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, Ticket]:
    rows = await fetch(visibility.tickets(viewer).filter(id__in=list(set(ids))))
    return {t.id: t for t in rows}


async def messages_of(
    *, viewer: Viewer, ticket_ids: Sequence[int], limit: int
) -> dict[int, list[Message]]:
    """The first `limit` messages of each ticket's conversation, oldest first, as the viewer
    may see it."""
    grouped: dict[int, list[Message]] = {tid: [] for tid in ticket_ids}
    query = visibility.messages(viewer).filter(ticket_id__in=list(grouped))
    rows = await first_of_each(query, group="ticket_id", limit=limit)
    for message in rows:
        grouped[message.ticket_id].append(message)
    return grouped


async def last_messages(*, viewer: Viewer, ticket_ids: Sequence[int]) -> dict[int, Message]:
    """The newest visible message of each ticket, in one statement."""
    newest = (
        visibility.messages(viewer)
        .filter(ticket_id__in=list(set(ticket_ids)))
        .group_by("ticket_id")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    rows = await Message.filter(id__in=Subquery(newest))
    return {m.ticket_id: m for m in rows}


# --- listing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketFilter:
    statuses: Sequence[TicketStatus] | None = None
    category_slug: str | None = None
    urgent: bool | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None
    assigned_to_me: bool | None = None
    owner_id: str | None = None  # a user's global id
    sla_breached: bool | None = None
    unread: bool | None = None


ORDER_COLUMNS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "SLA_DUE": "sla_due_at"}
STAFF_ORDERS = frozenset({"SLA_DUE"})
ASCENDING_ORDERS = frozenset({"SLA_DUE"})  # the first due first; timestamps newest first


@dataclass(slots=True)
class TicketList:
    page: Page[Ticket]
    query: QuerySet[Ticket]
    _counts: asyncio.Future[dict[TicketStatus, int]] | None = field(default=None)

    async def counts_by_status(self) -> dict[TicketStatus, int]:
        """Totals for the whole filter (not just the page): one GROUP BY, shared by callers."""
        if self._counts is None:
            self._counts = asyncio.ensure_future(self._count())
        return await asyncio.shield(self._counts)

    async def _count(self) -> dict[TicketStatus, int]:
        rows = await self.query.group_by("status").annotate(n=Count("id")).values("status", "n")
        return {TicketStatus(r["status"]): r["n"] for r in rows}

    async def total_count(self) -> int:
        return sum((await self.counts_by_status()).values())


async def list_tickets(
    *,
    viewer: Viewer | None,
    filter: TicketFilter,
    order_by: str = "CREATED_AT",
    descending: bool | None = None,
    page: PageArgs,
) -> TicketList:
    """The history: customers always get only their own tickets; filters narrow it further.
    Without a direction, each order has its own: newest first, the earliest due time first."""
    viewer = require_viewer(viewer)
    page.check()
    if order_by in STAFF_ORDERS and not visibility.may_see_service_levels(viewer):
        raise Forbidden("Only support staff order tickets by SLA due time.")
    query = await _filtered(visibility.tickets(viewer), viewer, filter)
    if descending is None:
        descending = order_by not in ASCENDING_ORDERS
    result = await paginate(query, column=ORDER_COLUMNS[order_by], descending=descending, args=page)
    return TicketList(page=result, query=query)


async def _filtered(query: QuerySet[Ticket], viewer: Viewer, f: TicketFilter) -> QuerySet[Ticket]:
    if f.statuses:
        query = query.filter(status__in=list(f.statuses))
    if f.category_slug is not None:
        ids = await category_ids_under(slug=f.category_slug)
        query = query.filter(category_id__in=ids)
    if f.urgent is not None:
        query = query.filter(urgent=f.urgent)
    after, before = period_arguments(
        "createdAfter", f.created_after, "createdBefore", f.created_before
    )
    if after is not None:
        query = query.filter(created_at__gte=after)
    if before is not None:
        query = query.filter(created_at__lt=before)
    if f.search is not None and f.search.strip():
        if bounded(f.search, SEARCH_MAX) is None:
            raise BadRequest(f"search is limited to {SEARCH_MAX} printable characters.")
        for word in search_key(f.search).split():
            query = query.filter(search_text__contains=word)
    if f.assigned_to_me:
        query = query.filter(assignee_id=viewer.id)
    elif f.assigned_to_me is False:
        query = query.filter(Q(assignee_id__isnull=True) | ~Q(assignee_id=viewer.id))
    if f.owner_id is not None:
        # A user's global id. One that names no user (malformed, of another type) matches no
        # ticket, as an unknown user's does: no user's id is empty.
        query = query.filter(owner_id=as_user_ref(f.owner_id) or "")
    if f.sla_breached is not None:
        if not visibility.may_see_service_levels(viewer):
            raise Forbidden("Only support staff filter tickets by SLA breaches.")
        query = query.filter(sla.breached_filter(f.sla_breached))
    if f.unread is not None:
        query = query.filter(read_state.unread_filter(viewer, f.unread))
    return query


async def events_of(
    *, viewer: Viewer, ticket_ids: Sequence[int], limit: int
) -> dict[int, list[TicketEvent]]:
    """The first `limit` events of each ticket's history, oldest first, without internal notes
    for customers."""
    grouped: dict[int, list[TicketEvent]] = {tid: [] for tid in ticket_ids}
    query = visibility.events(viewer).filter(ticket_id__in=list(grouped))
    for event in await first_of_each(query, group="ticket_id", limit=limit):
        grouped[event.ticket_id].append(event)
    return grouped


async def get_messages(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, Message]:
    """Messages by id, limited to tickets the viewer may see and notes they may read."""
    query = visibility.messages(viewer).filter(id__in=list(set(ids)))
    return {m.id: m for m in await fetch(query)}


async def get_events(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, TicketEvent]:
    """Events by id, of tickets the viewer may see, those about internal notes for staff only."""
    query = visibility.events(viewer).filter(id__in=list(set(ids)))
    return {e.id: e for e in await fetch(query)}


async def list_events(
    *, viewer: Viewer | None, ticket_id: int | None, after: str | None, first: int | None
) -> Page[TicketEvent]:
    """The event log in commit order (id), for catching up; customers see only their own tickets
    and never internal notes."""
    viewer = require_viewer(viewer)
    limit = DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= MAX_PAGE:
        raise BadRequest(f"first must be between 0 and {MAX_PAGE}.")
    query = visibility.events(viewer)
    if ticket_id is not None:
        query = query.filter(ticket_id=ticket_id)
    if after is not None:
        after_id = as_event_cursor(after)
        if after_id is None:
            raise BadRequest("Invalid cursor.")
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit + 1)
    return Page(
        [(global_id(EVENT, e.id), e) for e in rows[:limit]],
        has_next_page=len(rows) > limit,
        has_previous_page=after is not None,
    )


async def pending_requests(
    *, viewer: Viewer, ticket_ids: Sequence[int]
) -> dict[int, RecategorizationRequest]:
    """The pending recategorization request of each visible ticket."""
    query = visibility.requests(viewer).filter(
        ticket_id__in=list(set(ticket_ids)), status=RequestStatus.PENDING
    )
    return {r.ticket_id: r for r in await query}


async def get_requests(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, RecategorizationRequest]:
    query = visibility.requests(viewer).filter(id__in=list(set(ids)))
    return {r.id: r for r in await fetch(query)}
