"""Working a ticket: take, change status, assign, urgency, recategorize, recommend a solution.

Every change of a ticket (these, and replies in `services.ticket_changes`) runs the same way
(`change_ticket`): read the ticket as the viewer may see it, decide with `services.policy`, then
in one transaction apply a conditional UPDATE (`WHERE version = the version read`) and write the
events; publish after commit. When the row changed meanwhile the decision is taken again on the
fresh row, read locked (or VERSION_CONFLICT is returned when the client pinned `expectedVersion`):
two agents taking one ticket at once never both win, and every change bumps the version once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from models import (
    FINAL_STATUSES,
    EventKind,
    Message,
    RecategorizationRequest,
    RequestStatus,
    Role,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from pubsub import Broker
from services import events, policy, sla, visibility
from services.categories import resolve_leaf
from services.clock import clock
from services.errors import ErrorCode, FieldError, UserInputError
from services.validation import clean_text, is_system_user
from services.viewer import Viewer, require_viewer

REASON_MAX = 2_000
ATTEMPTS = 3

Recorder = Callable[[Ticket, datetime], Awaitable[list[TicketEvent]]]


@dataclass
class Change:
    """Columns to set on the ticket, and what to write (events, requests) once that succeeded."""

    fields: dict[str, Any] = field(default_factory=dict)
    record: Recorder | None = None
    # A public reply by staff: meets the ticket's first-response target.
    first_response: bool = False


class _Conflict(Exception):
    pass


def _version_conflict(ticket: Ticket) -> UserInputError:
    return UserInputError(
        ErrorCode.VERSION_CONFLICT,
        f"Ticket #{ticket.number} changed meanwhile (now version {ticket.version}); reload it.",
        "expectedVersion",
    )


async def _decide(
    viewer: Viewer,
    ticket_id: int,
    expected_version: int | None,
    plan: Callable[[Ticket], Awaitable[Change | None]],
    *,
    lock: bool,
) -> tuple[Ticket, Change | None]:
    query = visibility.tickets(viewer)
    ticket = await (query.select_for_update() if lock else query).get_or_none(id=ticket_id)
    if ticket is None:
        raise UserInputError.not_found("Ticket", "ticketId")
    if expected_version is not None and ticket.version != expected_version:
        raise _version_conflict(ticket)
    return ticket, await plan(ticket)


async def change_ticket(
    *,
    viewer: Viewer,
    broker: Broker,
    ticket_id: int,
    expected_version: int | None,
    plan: Callable[[Ticket], Awaitable[Change | None]],
) -> Ticket:
    """Apply the change `plan` decides on the ticket as read, if the row is still that version.

    The first try reads without a lock. When the row changed meanwhile, the next try reads it
    locked and decides again, so on a busy ticket (many replies at once) a change loses at most
    one try instead of one per competing change.
    """
    for attempt in range(ATTEMPTS):
        try:
            async with in_transaction():
                ticket, change = await _decide(
                    viewer, ticket_id, expected_version, plan, lock=attempt > 0
                )
                if change is None:
                    return ticket  # nothing to change: no version, no event
                now = clock.now()
                values = {**change.fields, "version": ticket.version + 1, "updated_at": now}
                service_level = await sla.follow_change(
                    ticket, values, now, first_response=change.first_response
                )
                values.update(service_level.fields)
                updated = await Ticket.filter(id=ticket.id, version=ticket.version).update(**values)
                if not updated:
                    raise _Conflict
                ticket.update_from_dict(values)
                written = await sla.record_breaches(ticket, service_level.breached, now)
                written += await change.record(ticket, now) if change.record else []
                if service_level.retargeted is not None:
                    written.append(
                        await _record_retargeted(ticket, now, viewer, service_level.retargeted)
                    )
        except _Conflict:
            if expected_version is not None:
                raise _version_conflict(await Ticket.get(id=ticket_id)) from None
            continue
        await events.publish(broker, ticket, written)
        return ticket
    raise _version_conflict(await Ticket.get(id=ticket_id))


async def _record_retargeted(
    ticket: Ticket, now: datetime, actor: Viewer, policy: SlaPolicy
) -> TicketEvent:
    """A new category or urgency put the ticket under another policy (staff only)."""
    return await events.record(
        ticket,
        EventKind.SLA_RETARGETED,
        actor_id=actor.id,
        at=now,
        internal=True,
        data={"slaPolicyId": policy.id},
    )


def _status_fields(target: TicketStatus) -> dict[str, Any]:
    fields: dict[str, Any] = {"status": target}
    if target in FINAL_STATUSES:
        fields["closed_at"] = clock.now()
    return fields


async def _record_status(
    ticket: Ticket,
    now: datetime,
    actor: Viewer,
    before: TicketStatus,
    *,
    reason: str | None = None,
    assigned_from: str | None = None,
    assigned: bool = False,
) -> list[TicketEvent]:
    """STATUS_CHANGED (+ ASSIGNED when the assignee changed); a final status cancels requests."""
    data = await _cancel_pending(ticket, now, actor) if ticket.status in FINAL_STATUSES else None
    written = [
        await events.record(
            ticket,
            EventKind.STATUS_CHANGED,
            actor_id=actor.id,
            at=now,
            from_status=before,
            to_status=ticket.status,
            comment=reason,
            data=data,
        )
    ]
    if assigned:
        written.append(await _record_assigned(ticket, now, actor, assigned_from))
    return written


async def _cancel_pending(ticket: Ticket, now: datetime, actor: Viewer) -> dict[str, Any] | None:
    """A pending recategorization request ends when the ticket is final or recategorized."""
    pending = await RecategorizationRequest.filter(
        ticket_id=ticket.id, status=RequestStatus.PENDING
    ).values_list("id", flat=True)
    if not pending:
        return None
    await RecategorizationRequest.filter(id__in=list(pending)).update(
        status=RequestStatus.CANCELLED, decided_at=now, decided_by_id=actor.id
    )
    return {"cancelledRequestIds": list(pending)}


async def _record_assigned(
    ticket: Ticket, now: datetime, actor: Viewer, assigned_from: str | None
) -> TicketEvent:
    return await events.record(
        ticket,
        EventKind.ASSIGNED,
        actor_id=actor.id,
        at=now,
        from_assignee_id=assigned_from,
        to_assignee_id=ticket.assignee_id,
    )


# --- status --------------------------------------------------------------------------------


async def take_ticket(
    *, viewer: Viewer | None, broker: Broker, ticket_id: int, expected_version: int | None = None
) -> Ticket:
    """An agent takes an OPEN ticket: it becomes IN_PROGRESS, assigned to them."""
    return await change_ticket_status(
        viewer=viewer,
        broker=broker,
        ticket_id=ticket_id,
        status=TicketStatus.IN_PROGRESS,
        expected_version=expected_version,
        decide=policy.take,
    )


async def change_ticket_status(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    status: TicketStatus,
    reason: str | None = None,
    expected_version: int | None = None,
    decide: Callable[[Viewer, Ticket], policy.Decision] | None = None,
) -> Ticket:
    """Move a ticket along a legal transition.

    REJECTED needs a reason, shown to the customer. Final states set `closedAt` and cancel a
    pending recategorization request. OPEN → IN_PROGRESS assigns the acting agent.
    """
    actor = require_viewer(viewer)
    errors: list[FieldError] = []
    text = (
        None
        if reason is None and status is not TicketStatus.REJECTED
        else clean_text(reason, field="reason", max_length=REASON_MAX, errors=errors, required=True)
    )
    if errors:
        raise UserInputError.many(errors)

    async def plan(ticket: Ticket) -> Change:
        decision = decide(actor, ticket) if decide else policy.change_status(actor, ticket, status)
        decision.enforce()
        before, assignee_before = ticket.status, ticket.assignee_id
        fields = _status_fields(status)
        takes = before is TicketStatus.OPEN and status is TicketStatus.IN_PROGRESS
        if takes and ticket.assignee_id is None:
            fields["assignee_id"] = actor.id
        if status is TicketStatus.REJECTED:
            fields["rejection_reason"] = text

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            return await _record_status(
                ticket,
                now,
                actor,
                before,
                reason=text,
                assigned_from=assignee_before,
                assigned=ticket.assignee_id != assignee_before,
            )

        return Change(fields, record)

    return await change_ticket(
        viewer=actor,
        broker=broker,
        ticket_id=ticket_id,
        expected_version=expected_version,
        plan=plan,
    )


# --- assignment and urgency ----------------------------------------------------------------


async def assign_ticket(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    assignee_id: str | None,
    expected_version: int | None = None,
) -> Ticket:
    """An admin (or the assigned agent handing over) gives the ticket to an agent.

    Assigning an OPEN ticket takes it into work (IN_PROGRESS). `assignee_id` None names nobody.
    """
    actor = require_viewer(viewer)
    assignee = None if assignee_id is None else await User.get_or_none(id=assignee_id)

    async def plan(ticket: Ticket) -> Change | None:
        policy.assign(actor, ticket).enforce()
        if assignee is None:
            raise UserInputError(ErrorCode.NOT_FOUND, "No such user.", "assigneeId")
        if not assignee.role.is_staff or is_system_user(assignee.id):
            raise UserInputError(
                ErrorCode.VALIDATION, "Tickets can only be assigned to agents.", "assigneeId"
            )
        if ticket.assignee_id == assignee.id:
            return None
        before, assignee_before = ticket.status, ticket.assignee_id
        fields: dict[str, Any] = {"assignee_id": assignee.id}
        if before is TicketStatus.OPEN:
            fields["status"] = TicketStatus.IN_PROGRESS

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            if before is not ticket.status:
                return await _record_status(
                    ticket, now, actor, before, assigned_from=assignee_before, assigned=True
                )
            return [await _record_assigned(ticket, now, actor, assignee_before)]

        return Change(fields, record)

    return await change_ticket(
        viewer=actor,
        broker=broker,
        ticket_id=ticket_id,
        expected_version=expected_version,
        plan=plan,
    )


async def set_ticket_urgent(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    urgent: bool,
    expected_version: int | None = None,
) -> Ticket:
    """The owner or an agent marks a ticket urgent (Срочно) or not; unchanged is a no-op."""
    actor = require_viewer(viewer)

    async def plan(ticket: Ticket) -> Change | None:
        policy.set_urgent(actor, ticket).enforce()
        if ticket.urgent == urgent:
            return None

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            return [
                await events.record(
                    ticket,
                    EventKind.URGENCY_CHANGED,
                    actor_id=actor.id,
                    at=now,
                    data={"urgent": urgent},
                )
            ]

        return Change({"urgent": urgent}, record)

    return await change_ticket(
        viewer=actor,
        broker=broker,
        ticket_id=ticket_id,
        expected_version=expected_version,
        plan=plan,
    )


# --- recategorization ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recategorization:
    ticket: Ticket
    request: RecategorizationRequest | None
    applied: bool


async def pending_request(ticket_id: int) -> RecategorizationRequest | None:
    return await RecategorizationRequest.get_or_none(
        ticket_id=ticket_id, status=RequestStatus.PENDING
    )


async def recategorize_ticket(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    category_slug: str,
    expected_version: int | None = None,
) -> Recategorization:
    """Before processing the owner or an agent changes the category; during processing the
    agent changes it and the owner's change becomes a request; after closure never."""
    actor = require_viewer(viewer)
    category = await resolve_leaf(slug=category_slug)
    created: list[RecategorizationRequest] = []

    async def plan(ticket: Ticket) -> Change | None:
        direct = policy.recategorize(actor, ticket)
        if direct.allowed:
            return None if ticket.category_id == category.id else _apply(ticket)
        if actor.is_staff or not policy.is_owner(actor, ticket):
            direct.enforce()
        # The owner of a ticket in work: the change becomes a request to the agent.
        has_pending = await pending_request(ticket.id) is not None
        policy.request_recategorization(actor, ticket, has_pending=has_pending).enforce()
        if ticket.category_id == category.id:
            raise UserInputError(
                ErrorCode.VALIDATION, "The ticket is already in this category.", "categorySlug"
            )
        return Change({}, ask)

    def _apply(ticket: Ticket) -> Change:
        before = ticket.category_id

        async def apply(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            return [
                await events.record(
                    ticket,
                    EventKind.CATEGORY_CHANGED,
                    actor_id=actor.id,
                    at=now,
                    from_category_id=before,
                    to_category_id=category.id,
                    data=await _cancel_pending(ticket, now, actor),
                )
            ]

        return Change({"category_id": category.id}, apply)

    async def ask(ticket: Ticket, now: datetime) -> list[TicketEvent]:
        request = await RecategorizationRequest.create(
            ticket_id=ticket.id,
            requested_by_id=actor.id,
            from_category_id=ticket.category_id,
            to_category_id=category.id,
            created_at=now,
        )
        created.append(request)
        return [
            await events.record(
                ticket,
                EventKind.RECATEGORIZATION_REQUESTED,
                actor_id=actor.id,
                at=now,
                from_category_id=ticket.category_id,
                to_category_id=category.id,
                request_id=request.id,
            )
        ]

    ticket = await change_ticket(
        viewer=actor,
        broker=broker,
        ticket_id=ticket_id,
        expected_version=expected_version,
        plan=plan,
    )
    request = created[-1] if created else None
    return Recategorization(ticket=ticket, request=request, applied=request is None)


async def decide_recategorization(
    *,
    viewer: Viewer | None,
    broker: Broker,
    request_id: int,
    approve: bool,
    comment: str | None = None,
) -> tuple[Ticket, RecategorizationRequest]:
    """The assigned agent (or an admin) approves or declines a pending request."""
    actor = require_viewer(viewer)
    errors: list[FieldError] = []
    note = (
        None
        if comment is None
        else clean_text(
            comment, field="comment", max_length=REASON_MAX, errors=errors, required=True
        )
    )
    if errors:
        raise UserInputError.many(errors)
    request = await RecategorizationRequest.get_or_none(id=request_id)
    if request is None or not await visibility.tickets(actor).filter(id=request.ticket_id).exists():
        raise UserInputError.not_found("Recategorization request", "requestId")

    async def plan(ticket: Ticket) -> Change:
        policy.decide_recategorization(actor, ticket).enforce()
        current = await RecategorizationRequest.get(id=request_id)
        if current.status is not RequestStatus.PENDING:
            raise UserInputError(
                ErrorCode.INVALID_TRANSITION,
                f"The request is already {current.status.value}.",
                "requestId",
            )
        before = ticket.category_id
        status = RequestStatus.APPROVED if approve else RequestStatus.DECLINED
        decision = {"status": status, "comment": note, "decided_by_id": actor.id}

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            decided = await RecategorizationRequest.filter(
                id=current.id, status=RequestStatus.PENDING
            ).update(**decision, decided_at=now)
            if not decided:
                raise _Conflict
            current.update_from_dict({**decision, "decided_at": now})
            decided_requests.append(current)
            return [
                await events.record(
                    ticket,
                    EventKind.CATEGORY_CHANGED if approve else EventKind.RECATEGORIZATION_DECLINED,
                    actor_id=actor.id,
                    at=now,
                    from_category_id=before if approve else current.from_category_id,
                    to_category_id=current.to_category_id,
                    request_id=current.id,
                    comment=note,
                )
            ]

        fields = {"category_id": current.to_category_id} if approve else {}
        return Change(fields, record)

    decided_requests: list[RecategorizationRequest] = []
    ticket = await change_ticket(
        viewer=actor, broker=broker, ticket_id=request.ticket_id, expected_version=None, plan=plan
    )
    return ticket, decided_requests[-1]


# --- recommended solution ------------------------------------------------------------------


async def mark_recommended_solution(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    message_id: int | None,
    expected_version: int | None = None,
) -> Ticket:
    """An agent recommends one of the support replies as the solution (None clears it)."""
    actor = require_viewer(viewer)

    async def plan(ticket: Ticket) -> Change | None:
        policy.mark_solution(actor, ticket).enforce()
        if message_id is not None:
            message = await Message.get_or_none(id=message_id, ticket_id=ticket.id)
            author = await User.get_or_none(id=message.author_id) if message else None
            if message is None or author is None:
                raise UserInputError.not_found("Message", "messageId")
            if message.internal or author.role is Role.CUSTOMER:
                raise UserInputError(
                    ErrorCode.VALIDATION,
                    "Only a support reply visible to the customer can be the solution.",
                    "messageId",
                )
        if ticket.solution_message_id == message_id:
            return None

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            return [
                await events.record(
                    ticket,
                    EventKind.SOLUTION_MARKED,
                    actor_id=actor.id,
                    at=now,
                    message_id=message_id,
                )
            ]

        return Change({"solution_message_id": message_id}, record)

    return await change_ticket(
        viewer=actor,
        broker=broker,
        ticket_id=ticket_id,
        expected_version=expected_version,
        plan=plan,
    )
