"""Object types. Relations resolve through the request's loaders (`info.context.loaders`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from schema.enums import (
    AttachmentState,
    ErrorCode,
    EventKind,
    FaqKind,
    Locale,
    RequestStatus,
    Role,
    TicketStatus,
)


@strawberry.type(description="A person: a customer, a support agent or an admin.")
class User:
    id: strawberry.ID
    name: str
    role: Role


@strawberry.type(description="A section of the Help page, or a question type inside one.")
class Category:
    id: strawberry.ID
    slug: str
    name_ru: str = strawberry.field(description="Display name in Russian.")
    name_en: str = strawberry.field(description="Display name in English.")
    parent_id: strawberry.Private[int | None]

    @strawberry.field(description="Display name in the requested language.")
    def name(self, locale: Locale = Locale.RU) -> str:
        return self.name_en if locale is Locale.EN else self.name_ru

    @strawberry.field(description="The section this question type belongs to.")
    async def parent(self, info: strawberry.Info[Any, Any]) -> Category | None:
        if self.parent_id is None:
            return None
        return await info.context.loaders.category(self.parent_id)

    @strawberry.field(description="Question types of this section (empty for leaves).")
    async def children(self, info: strawberry.Info[Any, Any]) -> list[Category]:
        return await info.context.loaders.category_children(int(self.id))

    @strawberry.field(description="Whether a ticket can be filed here (it has no question types).")
    async def selectable(self, info: strawberry.Info[Any, Any]) -> bool:
        return not await info.context.loaders.category_children(int(self.id))


@strawberry.type(description="A file attached to a ticket or a message (or not yet attached).")
class Attachment:
    id: strawberry.ID
    filename: str = strawberry.field(description="The name the uploader gave (display only).")
    content_type: str = strawberry.field(description="Decided from the content, not the client.")
    size: int
    state: AttachmentState
    created_at: datetime
    expires_at: datetime | None = strawberry.field(
        description="When an upload never attached is deleted."
    )

    @strawberry.field(description="Download path (send the bearer token).")
    def url(self) -> str:
        return f"/attachments/{self.id}"


@strawberry.type(description="One turn of a ticket's conversation.")
class Message:
    id: strawberry.ID
    body: str
    internal: bool = strawberry.field(description="An agents-only note; never shown to customers.")
    created_at: datetime
    author_id: strawberry.Private[str]

    @strawberry.field
    async def author(self, info: strawberry.Info[Any, Any]) -> User:
        return await info.context.loaders.users.load(self.author_id)

    @strawberry.field
    async def attachments(self, info: strawberry.Info[Any, Any]) -> list[Attachment]:
        return await info.context.loaders.message_attachments.load(int(self.id))


@strawberry.type(description="A support request and its conversation.")
class Ticket:
    id: strawberry.ID
    number: int = strawberry.field(description="Human, sequential ticket number.")
    summary: str = strawberry.field(description="Short description (derived from the question).")
    question: str
    urgent: bool
    status: TicketStatus
    rejection_reason: str | None = strawberry.field(
        description="Why the ticket was rejected; set when status is REJECTED."
    )
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int = strawberry.field(
        description="Increments on every change; pass as expectedVersion to detect conflicts."
    )
    owner_id: strawberry.Private[str]
    category_id: strawberry.Private[int]
    assignee_id: strawberry.Private[str | None]
    follow_up_of_id: strawberry.Private[int | None]
    solution_message_id: strawberry.Private[int | None]

    @strawberry.field
    async def owner(self, info: strawberry.Info[Any, Any]) -> User:
        return await info.context.loaders.users.load(self.owner_id)

    @strawberry.field
    async def assignee(self, info: strawberry.Info[Any, Any]) -> User | None:
        if self.assignee_id is None:
            return None
        return await info.context.loaders.users.load(self.assignee_id)

    @strawberry.field
    async def category(self, info: strawberry.Info[Any, Any]) -> Category:
        return await info.context.loaders.category(self.category_id)

    @strawberry.field(
        description="The earlier ticket this one continues, if the viewer may see it."
    )
    async def follow_up_of(self, info: strawberry.Info[Any, Any]) -> Ticket | None:
        if self.follow_up_of_id is None:
            return None
        return await info.context.loaders.tickets.load(self.follow_up_of_id)

    @strawberry.field(description="Files attached when the ticket was created.")
    async def attachments(self, info: strawberry.Info[Any, Any]) -> list[Attachment]:
        return await info.context.loaders.ticket_attachments.load(int(self.id))

    @strawberry.field(description="The conversation, oldest first.")
    async def messages(self, info: strawberry.Info[Any, Any]) -> list[Message]:
        return await info.context.loaders.messages.load(int(self.id))

    @strawberry.field(description="The newest message of the conversation.")
    async def last_message(self, info: strawberry.Info[Any, Any]) -> Message | None:
        return await info.context.loaders.last_message.load(int(self.id))

    @strawberry.field(description="The ticket's history, oldest first.")
    async def events(self, info: strawberry.Info[Any, Any]) -> list[TicketEvent]:
        return await info.context.loaders.events.load(int(self.id))

    @strawberry.field(
        description="Messages and events in one chronological list (message events are the "
        "messages themselves)."
    )
    async def timeline(self, info: strawberry.Info[Any, Any]) -> list[TimelineItem]:
        messages = await info.context.loaders.messages.load(int(self.id))
        events = await info.context.loaders.events.load(int(self.id))
        items: list[tuple[datetime, int, int, Message | TicketEvent]] = [
            (m.created_at, 0, int(m.id), m) for m in messages
        ]
        items += [(e.at, 1, int(e.id), e) for e in events if e.kind is not EventKind.MESSAGE_ADDED]
        return [item for *_, item in sorted(items, key=lambda i: i[:3])]

    @strawberry.field(description="The support reply recommended as the solution.")
    async def recommended_solution(self, info: strawberry.Info[Any, Any]) -> Message | None:
        if self.solution_message_id is None:
            return None
        return await info.context.loaders.message.load(self.solution_message_id)

    @strawberry.field(description="The owner's category change waiting for the agent's decision.")
    async def pending_recategorization(
        self, info: strawberry.Info[Any, Any]
    ) -> RecategorizationRequest | None:
        return await info.context.loaders.pending_request.load(int(self.id))

    @strawberry.field(description="What the viewer may do with this ticket, and why not.")
    async def viewer_can(self, info: strawberry.Info[Any, Any]) -> TicketPermissions:
        return await info.context.loaders.permissions(self)


@strawberry.type(description="Something that happened to a ticket: who, what, when, from and to.")
class TicketEvent:
    id: strawberry.ID = strawberry.field(description="Monotonic; also the event's cursor.")
    kind: EventKind
    at: datetime
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    comment: str | None = strawberry.field(
        description="Rejection reason, or the agent's comment on a recategorization request."
    )
    urgent: bool | None = strawberry.field(description="The new urgency (URGENCY_CHANGED).")
    ticket_id: strawberry.Private[int]
    actor_id: strawberry.Private[str]
    from_category_id: strawberry.Private[int | None]
    to_category_id: strawberry.Private[int | None]
    message_id: strawberry.Private[int | None]
    from_assignee_id: strawberry.Private[str | None]
    to_assignee_id: strawberry.Private[str | None]
    request_id: strawberry.Private[int | None]

    @strawberry.field
    async def from_assignee(self, info: strawberry.Info[Any, Any]) -> User | None:
        if self.from_assignee_id is None:
            return None
        return await info.context.loaders.users.load(self.from_assignee_id)

    @strawberry.field
    async def to_assignee(self, info: strawberry.Info[Any, Any]) -> User | None:
        if self.to_assignee_id is None:
            return None
        return await info.context.loaders.users.load(self.to_assignee_id)

    @strawberry.field
    async def recategorization_request(
        self, info: strawberry.Info[Any, Any]
    ) -> RecategorizationRequest | None:
        if self.request_id is None:
            return None
        return await info.context.loaders.request.load(self.request_id)

    @strawberry.field
    async def ticket(self, info: strawberry.Info[Any, Any]) -> Ticket | None:
        return await info.context.loaders.tickets.load(self.ticket_id)

    @strawberry.field
    async def actor(self, info: strawberry.Info[Any, Any]) -> User:
        return await info.context.loaders.users.load(self.actor_id)

    @strawberry.field
    async def from_category(self, info: strawberry.Info[Any, Any]) -> Category | None:
        if self.from_category_id is None:
            return None
        return await info.context.loaders.category(self.from_category_id)

    @strawberry.field
    async def to_category(self, info: strawberry.Info[Any, Any]) -> Category | None:
        if self.to_category_id is None:
            return None
        return await info.context.loaders.category(self.to_category_id)

    @strawberry.field
    async def message(self, info: strawberry.Info[Any, Any]) -> Message | None:
        if self.message_id is None:
            return None
        return await info.context.loaders.message.load(self.message_id)


TimelineItem = Annotated[Message | TicketEvent, strawberry.union("TimelineItem")]


@strawberry.type(description="The customer's wish to move a ticket in work to another category.")
class RecategorizationRequest:
    id: strawberry.ID
    status: RequestStatus
    comment: str | None = strawberry.field(description="The deciding agent's comment.")
    created_at: datetime
    decided_at: datetime | None
    ticket_id: strawberry.Private[int]
    requested_by_id: strawberry.Private[str]
    decided_by_id: strawberry.Private[str | None]
    from_category_id: strawberry.Private[int]
    to_category_id: strawberry.Private[int]

    @strawberry.field
    async def ticket(self, info: strawberry.Info[Any, Any]) -> Ticket | None:
        return await info.context.loaders.tickets.load(self.ticket_id)

    @strawberry.field
    async def requested_by(self, info: strawberry.Info[Any, Any]) -> User:
        return await info.context.loaders.users.load(self.requested_by_id)

    @strawberry.field
    async def decided_by(self, info: strawberry.Info[Any, Any]) -> User | None:
        if self.decided_by_id is None:
            return None
        return await info.context.loaders.users.load(self.decided_by_id)

    @strawberry.field
    async def from_category(self, info: strawberry.Info[Any, Any]) -> Category:
        return await info.context.loaders.category(self.from_category_id)

    @strawberry.field
    async def to_category(self, info: strawberry.Info[Any, Any]) -> Category:
        return await info.context.loaders.category(self.to_category_id)


@strawberry.type(description="Whether the viewer may do one thing, and why not.")
class Permission:
    allowed: bool
    reason: str | None = strawberry.field(description="Why not, when not allowed.")


@strawberry.type(description="What the viewer may do with a ticket (same rules as the mutations).")
class TicketPermissions:
    reply: Permission
    take_into_work: Permission
    change_status: Permission = strawberry.field(description="At least one status change.")
    recategorize: Permission = strawberry.field(description="Change the category directly.")
    request_recategorization: Permission = strawberry.field(
        description="Ask the assigned agent for a category change."
    )
    close: Permission
    reject: Permission
    assign: Permission
    set_urgent: Permission
    decide_recategorization: Permission
    mark_solution: Permission


@strawberry.type(description="A frequently asked question or a tip from the Help page.")
class FaqEntry:
    slug: str
    kind: FaqKind
    question_ru: str
    question_en: str
    answer_ru: str
    answer_en: str

    @strawberry.field(description="The question (or tip title) in the requested language.")
    def question(self, locale: Locale = Locale.RU) -> str:
        return self.question_en if locale is Locale.EN else self.question_ru

    @strawberry.field(description="The answer in the requested language.")
    def answer(self, locale: Locale = Locale.RU) -> str:
        return self.answer_en if locale is Locale.EN else self.answer_ru


@strawberry.type
class TicketEventEdge:
    cursor: str
    node: TicketEvent


@strawberry.type(description="A page of the event log, in commit order.")
class TicketEventConnection:
    edges: list[TicketEventEdge]
    page_info: PageInfo


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class TicketEdge:
    cursor: str
    node: Ticket


@strawberry.type(description="How many tickets of the filter are in one status.")
class StatusCount:
    status: TicketStatus
    count: int


@strawberry.type(description="A page of tickets with totals for the whole filter.")
class TicketConnection:
    edges: list[TicketEdge]
    page_info: PageInfo
    counts: strawberry.Private[Any]

    @strawberry.field(description="Tickets matching the filter, over all pages.")
    async def total_count(self) -> int:
        return int(await self.counts.total_count())

    @strawberry.field(description="Tickets matching the filter by status, over all pages.")
    async def counts_by_status(self) -> list[StatusCount]:
        counts = await self.counts.counts_by_status()
        return [StatusCount(status=s, count=counts.get(s, 0)) for s in TicketStatus]


@strawberry.type(description="Why a mutation did not happen. Nothing was changed.")
class UserError:
    code: ErrorCode
    field: str | None = strawberry.field(description="The input field at fault, if one is.")
    message: str


@strawberry.type(description="How many active (not final) tickets are in one category.")
class CategoryCount:
    count: int
    category_id: strawberry.Private[int]

    @strawberry.field
    async def category(self, info: strawberry.Info[Any, Any]) -> Category:
        return await info.context.loaders.category(self.category_id)


@strawberry.type(description="Dashboard figures over the tickets the viewer may see.")
class TicketStats:
    counts_by_status: list[StatusCount]
    active_by_category: list[CategoryCount] = strawberry.field(
        description="Tickets not yet CLOSED or REJECTED, by category."
    )
    urgent_active: int = strawberry.field(description="Urgent tickets not yet final.")
    oldest_open_created_at: datetime | None = strawberry.field(
        description="When the longest-waiting OPEN ticket was created."
    )
    computed_at: datetime

    @strawberry.field(description="Seconds the longest-waiting OPEN ticket has waited.")
    def oldest_open_age_seconds(self) -> int | None:
        if self.oldest_open_created_at is None:
            return None
        return max(0, int((self.computed_at - self.oldest_open_created_at).total_seconds()))
