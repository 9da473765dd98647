"""Input objects."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.file_uploads import Upload

from schema.enums import OrderDirection, TicketOrderField, TicketStatus

_VERSION = "Refuse with VERSION_CONFLICT if the ticket changed since."
_IDEMPOTENCY = (
    "Idempotency key, per user: the same request again returns the first result; "
    "another request with the same key is refused (VALIDATION)."
)
_UPLOADS = "Your uploads (uploadAttachment) to attach; the server sets how many per message."


@strawberry.input(description="Narrows the ticket history. All given conditions must hold.")
class TicketFilter:
    status: list[TicketStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    category_slug: str | None = strawberry.field(
        default=None, description="A category; a section includes its question types."
    )
    urgent: bool | None = strawberry.field(
        default=None, description="Only urgent tickets (true) or only non-urgent ones (false)."
    )
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
        description="Only this customer's tickets, by their `User.id` (customers only ever see "
        "their own).",
    )
    sla_breached: bool | None = strawberry.field(
        default=None,
        description="Staff: only tickets with a breached SLA target (false: with none).",
    )
    unread: bool | None = strawberry.field(
        default=None,
        description="Only tickets with messages the viewer has not read (false: with none); "
        "see `Ticket.unreadCount` for which tickets count.",
    )


@strawberry.input(description="Order of the ticket history; newest first by default.")
class TicketOrder:
    field: TicketOrderField = strawberry.field(
        default=TicketOrderField.CREATED_AT, description="The timestamp to sort by."
    )
    direction: OrderDirection | None = strawberry.field(
        default=None,
        description="Ascending or descending; when omitted, the field's own order: newest "
        "first for CREATED_AT and UPDATED_AT, the earliest due time first for SLA_DUE.",
    )


@strawberry.input(description="A new ticket: where it goes and what the customer asks.")
class CreateTicketInput:
    category_slug: str = strawberry.field(
        description="A section without question types, or a question type (e.g. metric-billing)."
    )
    question: str = strawberry.field(description="The question, up to 10,000 characters.")
    summary: str | None = strawberry.field(
        default=None, description="Short description; derived from the question when omitted."
    )
    urgent: bool = strawberry.field(default=False, description="Mark the ticket urgent (Срочно).")
    follow_up_of: strawberry.ID | None = strawberry.field(
        default=None, description="An earlier ticket this one continues (e.g. a closed one)."
    )
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=_UPLOADS
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="A message added to a ticket's conversation.")
class ReplyToTicketInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to reply to.")
    body: str = strawberry.field(description="The message text, up to 10,000 characters.")
    attachment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description=_UPLOADS
    )
    await_customer_reply: bool = strawberry.field(
        default=False, description="Agents: ask the customer for information (→ AWAITING_REPLY)."
    )
    internal: bool = strawberry.field(
        default=False, description="Agents: a note visible to agents only."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="The OPEN ticket an agent takes into work.")
class TakeTicketInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to take.")
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="A ticket's move to another status.")
class ChangeTicketStatusInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to change.")
    status: TicketStatus = strawberry.field(
        description="The new status; must be a legal transition from the current one."
    )
    reason: str | None = strawberry.field(
        default=None, description="Required for REJECTED (shown to the customer)."
    )
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="Who should work on a ticket.")
class AssignTicketInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to assign.")
    assignee_id: strawberry.ID = strawberry.field(description="An agent's or admin's `User.id`.")
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="Whether a ticket is urgent.")
class SetTicketUrgentInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to change.")
    urgent: bool = strawberry.field(description="True to mark the ticket urgent, false to unmark.")
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="A new category for a ticket.")
class RecategorizeTicketInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket to recategorize.")
    category_slug: str = strawberry.field(
        description="The new category: a section without question types, or a question type."
    )
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="A pending recategorization request to accept.")
class ApproveRecategorizationInput:
    request_id: strawberry.ID = strawberry.field(description="The request's id.")
    comment: str | None = strawberry.field(
        default=None, description="An optional comment, shown with the decision."
    )


@strawberry.input(description="A pending recategorization request to refuse.")
class DeclineRecategorizationInput:
    request_id: strawberry.ID = strawberry.field(description="The request's id.")
    comment: str | None = strawberry.field(
        default=None, description="An optional comment (why not), shown with the decision."
    )


@strawberry.input(description="The support reply to recommend as a ticket's solution.")
class MarkRecommendedSolutionInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket the reply belongs to.")
    message_id: strawberry.ID | None = strawberry.field(
        description="A support reply on this ticket; null clears the recommendation."
    )
    expected_version: int | None = strawberry.field(default=None, description=_VERSION)


@strawberry.input(description="A file to upload.")
class UploadAttachmentInput:
    file: Upload = strawberry.field(
        description="The file, sent as a GraphQL multipart request (one file per mutation)."
    )


TicketScope = Annotated[
    strawberry.ID | None,
    strawberry.argument(description="Only this ticket; all the viewer may see if omitted."),
]


@strawberry.input(description="The owner's rating of a CLOSED ticket.")
class RateTicketInput:
    ticket_id: strawberry.ID = strawberry.field(description="The closed ticket to rate.")
    score: int = strawberry.field(description="1 (very unhappy) to 5 (very happy).")
    comment: str | None = strawberry.field(
        default=None, description="What went well or not, up to 2,000 characters."
    )
    client_mutation_id: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="Which ticket to mark read, and how far.")
class MarkTicketReadInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket read.")
    up_to_event_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The newest event read (an event of this ticket); the ticket's newest event "
        "when omitted. A mark already further on stays.",
    )
    client_mutation_id: str | None = strawberry.field(
        default=None,
        description="Echoed in the payload. Marking read is naturally idempotent: sending it "
        "again changes nothing.",
    )


@strawberry.input(description="The ticket the viewer is typing a reply in.")
class ReportTypingInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket.")
    client_mutation_id: str | None = strawberry.field(
        default=None, description="Returned unchanged in the payload."
    )


@strawberry.input(description="Which ratings satisfactionStats counts. All given conditions hold.")
class SatisfactionFilter:
    category_slug: str | None = strawberry.field(
        default=None, description="Tickets of a category; a section includes its question types."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Rated at or after this instant."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Rated strictly before this instant."
    )


@strawberry.input(description="Working time: due times count only within it.")
class BusinessHoursInput:
    time_zone: str = strawberry.field(description="An IANA time zone, such as Europe/Moscow.")
    weekdays: list[int] = strawberry.field(
        description="ISO weekdays to count, 1 (Monday) to 7 (Sunday)."
    )
    start: str = strawberry.field(description="Local start of each working day, HH:MM.")
    end: str = strawberry.field(
        description="Local end of each working day, HH:MM (24:00 for midnight); after start."
    )


@strawberry.input(description="The service level of a leaf category and urgency.")
class SetSlaPolicyInput:
    category_slug: str = strawberry.field(description="A leaf category (no question types).")
    urgent: bool = strawberry.field(description="For urgent tickets (true) or the others.")
    first_response_minutes: int = strawberry.field(
        description="Minutes to the first public reply of staff, 1 to 527,040 (a year)."
    )
    resolution_minutes: int = strawberry.field(
        description="Minutes to CLOSED or REJECTED; not shorter than firstResponseMinutes."
    )
    business_hours: BusinessHoursInput | None = strawberry.field(
        default=None, description="Count only these hours; around the clock when omitted."
    )
