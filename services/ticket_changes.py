"""The conversation's changes: open a ticket, and reply to one (customers and agents alike).

Both are idempotent with a `clientMutationId` (`services.idempotency`). A reply is a change of the
ticket like any other (`services.ticket_work.change_ticket`): an optimistic version check, one
version bump and its events in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models import Counter, EventKind, Message, Ticket, TicketEvent, TicketStatus
from pubsub import Broker
from services import attachments, events, idempotency, policy, sla, visibility
from services.categories import resolve_leaf
from services.clock import clock
from services.errors import ErrorCode, FieldError, Forbidden, UserInputError
from services.ticket_work import Change, change_ticket
from services.validation import (
    BODY_MAX,
    QUESTION_MAX,
    SUMMARY_MAX,
    check_client_mutation_id,
    clean_text,
    derive_summary,
    search_key,
)
from services.viewer import Viewer, require_viewer

TICKET_NUMBER = "ticket_number"


def _now() -> datetime:
    return clock.now()


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

    request = idempotency.request(
        "createTicket",
        client_mutation_id,
        category_slug=category_slug,
        question=question_text,
        summary=summary_text,
        urgent=urgent,
        follow_up_of=follow_up_of,
        attachment_ids=list(attachment_ids),
    )
    if first := await idempotency.first_ticket(viewer, request):
        return first

    category = await resolve_leaf(slug=category_slug)
    if (
        follow_up_of is not None
        and not await visibility.tickets(viewer).filter(id=follow_up_of).exists()
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
                **await sla.initial_columns(category.id, urgent, now),
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
            await idempotency.remember(viewer, request, ticket_id=ticket.id)
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its result.
        if first := await idempotency.first_ticket(viewer, request):
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

    request = idempotency.request(
        "replyToTicket",
        client_mutation_id,
        ticket_id=ticket_id,
        body=text,
        internal=internal,
        await_customer_reply=await_customer_reply,
        attachment_ids=list(attachment_ids),
    )
    if first := await idempotency.first_message(viewer, request):
        return Reply(*first)

    written: list[Message] = []

    async def plan(ticket: Ticket) -> Change:
        policy.reply(viewer, ticket).enforce()
        before = ticket.status
        new_status = _status_after_reply(viewer, ticket, internal, await_customer_reply)

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            message = await Message.create(
                ticket_id=ticket.id,
                author_id=viewer.id,
                body=text,
                internal=internal,
                created_at=now,
            )
            written.append(message)
            await attachments.link(
                viewer=viewer,
                ids=attachment_ids,
                ticket_id=ticket.id,
                message_id=message.id,
                limits=limits or attachments.Limits(),
            )
            recorded = [
                await events.record(
                    ticket,
                    EventKind.MESSAGE_ADDED,
                    actor_id=viewer.id,
                    at=now,
                    message_id=message.id,
                    internal=internal,
                )
            ]
            if new_status is not None:
                recorded.append(
                    await events.record(
                        ticket,
                        EventKind.STATUS_CHANGED,
                        actor_id=viewer.id,
                        at=now,
                        from_status=before,
                        to_status=new_status,
                    )
                )
            await idempotency.remember(viewer, request, ticket_id=ticket.id, message_id=message.id)
            return recorded

        return Change(
            {} if new_status is None else {"status": new_status},
            record,
            first_response=sla.meets_first_response(viewer, internal=internal),
        )

    try:
        ticket = await change_ticket(
            viewer=viewer, broker=broker, ticket_id=ticket_id, expected_version=None, plan=plan
        )
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its result.
        if first := await idempotency.first_message(viewer, request):
            return Reply(*first)
        raise
    return Reply(ticket=ticket, message=written[-1])


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
