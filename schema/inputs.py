"""Input objects."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.file_uploads import Upload

from schema.enums import OrderDirection, TicketOrderField, TicketStatus


@strawberry.input(description="Narrows the ticket history. All given conditions must hold.")
class TicketFilter:
    status: list[TicketStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    category_slug: str | None = strawberry.field(
        default=None, description="A category; a section includes its question types."
    )
    urgent: bool | None = None
    created_after: datetime | None = strawberry.field(
        default=None, description="Created at or after this instant."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Created strictly before this instant."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Words that must all appear in the summary or question (any case, any script).",
    )
    assigned_to_me: bool | None = strawberry.field(
        default=None, description="Only tickets assigned to the viewer (false: all others)."
    )
    owner_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only this customer's tickets (customers only ever see their own).",
    )


@strawberry.input(description="Order of the ticket history; newest first by default.")
class TicketOrder:
    field: TicketOrderField = TicketOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


@strawberry.input
class CreateTicketInput:
    category_slug: str = strawberry.field(
        description="A section without question types, or a question type (e.g. metric-billing)."
    )
    question: str
    summary: str | None = strawberry.field(
        default=None, description="Short description; derived from the question when omitted."
    )
    urgent: bool = False
    follow_up_of: strawberry.ID | None = strawberry.field(
        default=None, description="An earlier ticket this one continues (e.g. a closed one)."
    )
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Your uploads (uploadAttachment) to attach, at most 10."
    )
    client_mutation_id: str | None = strawberry.field(
        default=None, description="Idempotency key: repeating it returns the first result."
    )


@strawberry.input
class ReplyToTicketInput:
    ticket_id: strawberry.ID
    body: str
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Your uploads (uploadAttachment) to attach, at most 10."
    )
    await_customer_reply: bool = strawberry.field(
        default=False, description="Agents: ask the customer for information (→ AWAITING_REPLY)."
    )
    internal: bool = strawberry.field(
        default=False, description="Agents: a note visible to agents only."
    )
    client_mutation_id: str | None = strawberry.field(
        default=None, description="Idempotency key: repeating it returns the first result."
    )


@strawberry.input
class TakeTicketInput:
    ticket_id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse with VERSION_CONFLICT if the ticket changed since."
    )


@strawberry.input
class ChangeTicketStatusInput:
    ticket_id: strawberry.ID
    status: TicketStatus
    reason: str | None = strawberry.field(
        default=None, description="Required for REJECTED (shown to the customer)."
    )
    expected_version: int | None = None


@strawberry.input
class AssignTicketInput:
    ticket_id: strawberry.ID
    assignee_id: strawberry.ID = strawberry.field(description="An agent's or admin's user id.")
    expected_version: int | None = None


@strawberry.input
class SetTicketUrgentInput:
    ticket_id: strawberry.ID
    urgent: bool
    expected_version: int | None = None


@strawberry.input
class RecategorizeTicketInput:
    ticket_id: strawberry.ID
    category_slug: str
    expected_version: int | None = None


@strawberry.input
class ApproveRecategorizationInput:
    request_id: strawberry.ID
    comment: str | None = None


@strawberry.input
class DeclineRecategorizationInput:
    request_id: strawberry.ID
    comment: str | None = None


@strawberry.input
class MarkRecommendedSolutionInput:
    ticket_id: strawberry.ID
    message_id: strawberry.ID | None = strawberry.field(
        description="A support reply on this ticket; null clears the recommendation."
    )
    expected_version: int | None = None


@strawberry.input
class UploadAttachmentInput:
    file: Upload = strawberry.field(
        description="The file, sent as a GraphQL multipart request (one file per mutation)."
    )
