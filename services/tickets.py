"""Tickets: the customer's flow (create, list, open, reply) and the reads behind it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Count, Max
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from models import (
    Counter,
    EventKind,
    Message,
    MutationReceipt,
    RecategorizationRequest,
    RequestStatus,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from models.rows import fetch, first_of_each
from pubsub import Broker
from services import attachments, events, policy
from services.categories import category_ids_under, resolve_leaf
from services.errors import BadRequest, ErrorCode, FieldError, Forbidden, UserInputError
from services.pagination import DEFAULT_PAGE, MAX_PAGE, Page, PageArgs, paginate
from services.validation import (
    BODY_MAX,
    QUESTION_MAX,
    SEARCH_MAX,
    SUMMARY_MAX,
    as_id,
    as_instant,
    as_user_id,
    bounded,
    check_client_mutation_id,
    clean_text,
    derive_summary,
    search_key,
)
from services.viewer import Viewer, can_see_ticket, require_viewer

TICKET_NUMBER = "ticket_number"


def _now() -> datetime:
    return datetime.now(UTC)


def visible_tickets(viewer: Viewer) -> QuerySet[Ticket]:
    """The only way tickets are read: customers get their own, staff get all."""
    query = Ticket.all()
    return query if viewer.is_staff else query.filter(owner_id=viewer.id)


def visible_messages(viewer: Viewer) -> QuerySet[Message]:
    """Internal notes never reach customers."""
    query = Message.all()
    return query if viewer.is_staff else query.filter(internal=False)


async def get_ticket(*, viewer: Viewer | None, ticket_id: int) -> Ticket | None:
    """The ticket, or None when it does not exist or the viewer may not see it."""
    viewer = require_viewer(viewer)
    return await visible_tickets(viewer).get_or_none(id=ticket_id)


async def get_tickets(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, Ticket]:
    rows = await fetch(visible_tickets(viewer).filter(id__in=list(set(ids))))
    return {t.id: t for t in rows}


async def messages_of(
    *, viewer: Viewer, ticket_ids: Sequence[int], limit: int
) -> dict[int, list[Message]]:
    """The first `limit` messages of each ticket's conversation, oldest first, as the viewer
    may see it."""
    grouped: dict[int, list[Message]] = {tid: [] for tid in ticket_ids}
    query = visible_messages(viewer).filter(ticket_id__in=list(grouped))
    rows = await first_of_each(query, group="ticket_id", limit=limit)
    for message in rows:
        grouped[message.ticket_id].append(message)
    return grouped


async def last_messages(*, viewer: Viewer, ticket_ids: Sequence[int]) -> dict[int, Message]:
    """The newest visible message of each ticket, in one statement."""
    newest = (
        visible_messages(viewer)
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
    owner_id: str | None = None


ORDER_COLUMNS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}


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
    descending: bool = True,
    page: PageArgs,
) -> TicketList:
    """The history: customers always get only their own tickets; filters narrow it further."""
    viewer = require_viewer(viewer)
    page.check()
    query = await _filtered(visible_tickets(viewer), viewer, filter)
    result = await paginate(query, column=ORDER_COLUMNS[order_by], descending=descending, args=page)
    return TicketList(page=result, query=query)


async def _filtered(query: QuerySet[Ticket], viewer: Viewer, f: TicketFilter) -> QuerySet[Ticket]:
    if f.statuses:
        query = query.filter(status__in=list(f.statuses))
    if f.category_slug is not None:
        ids = await category_ids_under(slug=f.category_slug)
        if ids is None:
            raise BadRequest(f"Unknown category {f.category_slug!r}.", ErrorCode.UNKNOWN_CATEGORY)
        query = query.filter(category_id__in=ids)
    if f.urgent is not None:
        query = query.filter(urgent=f.urgent)
    after, before = f.created_after, f.created_before
    for name, moment in (("createdAfter", after), ("createdBefore", before)):
        if moment is not None and as_instant(moment) is None:
            raise BadRequest(f"{name} is out of range.")
    if after is not None and before is not None and after >= before:
        raise BadRequest("createdAfter must be earlier than createdBefore.")
    if f.created_after is not None:
        query = query.filter(created_at__gte=f.created_after)
    if f.created_before is not None:
        query = query.filter(created_at__lt=f.created_before)
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
        if as_user_id(f.owner_id) is None:
            raise BadRequest("ownerId names no user.")
        query = query.filter(owner_id=f.owner_id)
    return query


# --- idempotency ---------------------------------------------------------------------------


async def _receipt(viewer: Viewer, operation: str, key: str | None) -> MutationReceipt | None:
    if key is None:
        return None
    return await MutationReceipt.get_or_none(
        user_id=viewer.id, operation=operation, client_mutation_id=key
    )


async def _first_ticket(viewer: Viewer, key: str | None) -> Ticket | None:
    """The ticket of an earlier createTicket with the same clientMutationId, if any."""
    receipt = await _receipt(viewer, "createTicket", key)
    return None if receipt is None else await Ticket.get(id=receipt.ticket_id)


# --- create --------------------------------------------------------------------------------


async def create_ticket(
    *,
    viewer: Viewer | None,
    broker: Broker,
    category_slug: str,
    question: str,
    summary: str | None = None,
    urgent: bool = False,
    follow_up_of: int | None = None,
    attachment_ids: Sequence[int] = (),
    limits: attachments.Limits | None = None,
    client_mutation_id: str | None = None,
) -> Ticket:
    """Open a ticket in a leaf category. The same clientMutationId returns the first ticket."""
    viewer = require_viewer(viewer)
    errors: list[FieldError] = []
    question_text = clean_text(
        question, field="question", max_length=QUESTION_MAX, errors=errors, required=True
    )
    summary_text = (
        None
        if summary is None
        else clean_text(
            summary, field="summary", max_length=SUMMARY_MAX, errors=errors, required=True
        )
    )
    check_client_mutation_id(client_mutation_id, errors)
    if errors:
        raise UserInputError.many(errors)
    assert question_text is not None

    if first := await _first_ticket(viewer, client_mutation_id):
        return first

    category = await resolve_leaf(slug=category_slug)
    if (
        follow_up_of is not None
        and not await visible_tickets(viewer).filter(id=follow_up_of).exists()
    ):
        raise UserInputError(
            ErrorCode.NOT_FOUND, "The ticket to follow up was not found.", "followUpOf"
        )

    summary_text = summary_text or derive_summary(question_text)
    now = _now()
    try:
        async with in_transaction():
            await Counter.filter(name=TICKET_NUMBER).update(value=F("value") + 1)
            number = (await Counter.get(name=TICKET_NUMBER)).value
            ticket = await Ticket.create(
                number=number,
                owner_id=viewer.id,
                category_id=category.id,
                summary=summary_text,
                question=question_text,
                search_text=search_key(summary_text, question_text),
                urgent=urgent,
                status=TicketStatus.OPEN,
                follow_up_of_id=follow_up_of,
                created_at=now,
                updated_at=now,
            )
            event = await events.record(
                ticket,
                EventKind.CREATED,
                actor_id=viewer.id,
                at=now,
                to_status=TicketStatus.OPEN,
                to_category_id=category.id,
            )
            await attachments.link(
                viewer=viewer,
                ids=attachment_ids,
                ticket_id=ticket.id,
                message_id=None,
                limits=limits or attachments.Limits(),
            )
            if client_mutation_id is not None:
                await MutationReceipt.create(
                    user_id=viewer.id,
                    operation="createTicket",
                    client_mutation_id=client_mutation_id,
                    ticket_id=ticket.id,
                )
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its result.
        if first := await _first_ticket(viewer, client_mutation_id):
            return first
        raise
    await events.publish(broker, ticket, [event])
    return ticket


# --- reply ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    ticket: Ticket
    message: Message


async def reply_to_ticket(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    body: str,
    internal: bool = False,
    await_customer_reply: bool = False,
    attachment_ids: Sequence[int] = (),
    limits: attachments.Limits | None = None,
    client_mutation_id: str | None = None,
) -> Reply:
    """Add a message to a ticket that is not final.

    The owner's reply to an AWAITING_REPLY ticket moves it back to IN_PROGRESS. Staff may write
    internal notes (never shown to customers) and ask for the customer's reply, which moves an
    IN_PROGRESS ticket to AWAITING_REPLY in the same transaction.
    """
    viewer = require_viewer(viewer)
    if (internal or await_customer_reply) and not viewer.is_staff:
        raise Forbidden("Only support agents can write internal notes or await a customer reply.")
    errors: list[FieldError] = []
    text = clean_text(body, field="body", max_length=BODY_MAX, errors=errors, required=True)
    check_client_mutation_id(client_mutation_id, errors)
    if internal and await_customer_reply:
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                "An internal note cannot ask the customer for a reply.",
                "awaitCustomerReply",
            )
        )
    if errors:
        raise UserInputError.many(errors)
    assert text is not None

    if first_reply := await _first_reply(viewer, client_mutation_id):
        return first_reply

    now = _now()
    try:
        async with in_transaction():
            ticket = await Ticket.select_for_update().get_or_none(id=ticket_id)
            if ticket is None or not can_see_ticket(viewer, ticket.owner_id):
                raise UserInputError(ErrorCode.NOT_FOUND, "Ticket not found.", "ticketId")
            policy.reply(viewer, ticket).enforce()
            new_status = _status_after_reply(viewer, ticket, internal, await_customer_reply)

            message = await Message.create(
                ticket_id=ticket.id,
                author_id=viewer.id,
                body=text,
                internal=internal,
                created_at=now,
            )
            await attachments.link(
                viewer=viewer,
                ids=attachment_ids,
                ticket_id=ticket.id,
                message_id=message.id,
                limits=limits or attachments.Limits(),
            )
            written = [
                await events.record(
                    ticket,
                    EventKind.MESSAGE_ADDED,
                    actor_id=viewer.id,
                    at=now,
                    message_id=message.id,
                    internal=internal,
                )
            ]
            changes: dict[str, Any] = {"updated_at": now, "version": ticket.version + 1}
            if new_status is not None:
                written.append(
                    await events.record(
                        ticket,
                        EventKind.STATUS_CHANGED,
                        actor_id=viewer.id,
                        at=now,
                        from_status=ticket.status,
                        to_status=new_status,
                    )
                )
                changes["status"] = new_status
            await Ticket.filter(id=ticket.id).update(**changes)
            ticket.update_from_dict(changes)
            if client_mutation_id is not None:
                await MutationReceipt.create(
                    user_id=viewer.id,
                    operation="replyToTicket",
                    client_mutation_id=client_mutation_id,
                    ticket_id=ticket.id,
                    message_id=message.id,
                )
    except IntegrityError:
        if first_reply := await _first_reply(viewer, client_mutation_id):
            return first_reply
        raise
    await events.publish(broker, ticket, written)
    return Reply(ticket=ticket, message=message)


async def _first_reply(viewer: Viewer, key: str | None) -> Reply | None:
    """The result of an earlier replyToTicket with the same clientMutationId, if any."""
    receipt = await _receipt(viewer, "replyToTicket", key)
    if receipt is None:
        return None
    return Reply(
        ticket=await Ticket.get(id=receipt.ticket_id),
        message=await Message.get(id=receipt.message_id),
    )


def _status_after_reply(
    viewer: Viewer, ticket: Ticket, internal: bool, await_customer_reply: bool
) -> TicketStatus | None:
    if internal:
        return None
    if await_customer_reply:
        if ticket.status == TicketStatus.AWAITING_REPLY:
            return None
        target = TicketStatus.AWAITING_REPLY
        policy.change_status(viewer, ticket, target, field="awaitCustomerReply").enforce()
        return target
    if ticket.owner_id == viewer.id and ticket.status == TicketStatus.AWAITING_REPLY:
        return TicketStatus.IN_PROGRESS
    return None


async def events_of(
    *, viewer: Viewer, ticket_ids: Sequence[int], limit: int
) -> dict[int, list[TicketEvent]]:
    """The first `limit` events of each ticket's history, oldest first, without internal notes
    for customers."""
    grouped: dict[int, list[TicketEvent]] = {tid: [] for tid in ticket_ids}
    query = TicketEvent.filter(ticket_id__in=list(grouped))
    if not viewer.is_staff:
        query = query.filter(internal=False)
    for event in await first_of_each(query, group="ticket_id", limit=limit):
        grouped[event.ticket_id].append(event)
    return grouped


async def get_messages(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, Message]:
    """Messages by id, limited to tickets the viewer may see and notes they may read."""
    query = visible_messages(viewer).filter(id__in=list(set(ids)))
    if not viewer.is_staff:
        query = query.filter(ticket__owner_id=viewer.id)
    return {m.id: m for m in await fetch(query)}


async def list_events(
    *, viewer: Viewer | None, ticket_id: int | None, after: str | None, first: int | None
) -> Page[TicketEvent]:
    """The event log in commit order (id), for catching up; customers see only their own tickets
    and never internal notes."""
    viewer = require_viewer(viewer)
    limit = DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= MAX_PAGE:
        raise BadRequest(f"first must be between 0 and {MAX_PAGE}.")
    query = TicketEvent.all()
    if not viewer.is_staff:
        query = query.filter(ticket__owner_id=viewer.id, internal=False)
    if ticket_id is not None:
        query = query.filter(ticket_id=ticket_id)
    if after is not None:
        after_id = as_id(after)
        if after_id is None:
            raise BadRequest("Invalid cursor.")
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit + 1)
    return Page(
        [(str(e.id), e) for e in rows[:limit]],
        has_next_page=len(rows) > limit,
        has_previous_page=after is not None,
    )


async def pending_requests(
    *, viewer: Viewer, ticket_ids: Sequence[int]
) -> dict[int, RecategorizationRequest]:
    """The pending recategorization request of each visible ticket."""
    query = RecategorizationRequest.filter(
        ticket_id__in=list(set(ticket_ids)), status=RequestStatus.PENDING
    )
    if not viewer.is_staff:
        query = query.filter(ticket__owner_id=viewer.id)
    return {r.ticket_id: r for r in await query}


async def get_requests(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, RecategorizationRequest]:
    query = RecategorizationRequest.filter(id__in=list(set(ids)))
    if not viewer.is_staff:
        query = query.filter(ticket__owner_id=viewer.id)
    return {r.id: r for r in await fetch(query)}
