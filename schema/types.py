"""Object types, and the `FieldContext` protocol their relations resolve through."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import quote

import strawberry

from schema import sizes
from schema.enums import (
    AttachmentState,
    ErrorCode,
    EventKind,
    FaqKind,
    Locale,
    RequestStatus,
    Role,
    SlaTarget,
    TicketStatus,
)
from schema.metadata import PER_VIEWER

# What the fields need from `info.context`: the request's loaders. The resolvers' context satisfies
# this protocol (mypy checks it there); the schema never imports the resolvers.

K = TypeVar("K", contravariant=True)
V = TypeVar("V", covariant=True)


class Loads(Protocol[K, V]):
    """A batching loader: one key in, its value later."""

    def load(self, key: K, /) -> Awaitable[V]: ...


class FieldLoaders(Protocol):
    """The per-request loaders the object types resolve their relations through."""

    @property
    def tickets(self) -> Loads[int, Ticket | None]: ...
    @property
    def messages(self) -> Loads[tuple[int, int], list[Message]]: ...
    @property
    def last_message(self) -> Loads[int, Message | None]: ...
    @property
    def message(self) -> Loads[int, Message | None]: ...
    @property
    def events(self) -> Loads[tuple[int, int], list[TicketEvent]]: ...
    @property
    def pending_request(self) -> Loads[int, RecategorizationRequest | None]: ...
    @property
    def request(self) -> Loads[int, RecategorizationRequest | None]: ...
    @property
    def satisfaction(self) -> Loads[int, SatisfactionRating | None]: ...
    @property
    def sla_policy(self) -> Loads[int, SlaPolicy]: ...
    @property
    def ticket_attachments(self) -> Loads[int, list[Attachment]]: ...
    @property
    def message_attachments(self) -> Loads[int, list[Attachment]]: ...

    # `user` and `category` answer right away when the value is at hand (a synchronous field
    # stays on the fast path) and an awaitable of it otherwise; graphql-core awaits either.
    def user(self, user_id: str) -> User: ...
    def category(self, category_id: int) -> Category: ...
    def unread_count(self, ticket_id: int) -> int: ...
    def last_read_at(self, ticket_id: int) -> datetime | None: ...
    async def category_children(self, category_id: int) -> list[Category]: ...
    async def permissions(self, ticket: Ticket) -> TicketPermissions: ...
    def sla(self, ticket: Ticket) -> TicketSla | None: ...


class FieldContext(Protocol):
    """What `info.context` offers the schema's fields."""

    @property
    def loaders(self) -> FieldLoaders: ...


Info = strawberry.Info[FieldContext, None]


ListFirst = Annotated[
    int | None,
    strawberry.argument(
        description=f"How many items, 0 to {sizes.TICKET_LIST.maximum}; "
        f"{sizes.TICKET_LIST.default} when omitted."
    ),
]


NODE_ID = "Global and opaque: refetch the object with `node(id:)`; never parse it."


@strawberry.interface(
    description="An object with a globally unique id: refetch it with `node(id:)` (Relay)."
)
class Node:
    id: strawberry.ID = strawberry.field(description=NODE_ID)


@strawberry.type(description="A person: a customer, a support agent or an admin.")
class User(Node):
    id: strawberry.ID = strawberry.field(
        description=f"The user's id (pass it as assigneeId or ownerId). {NODE_ID}"
    )
    sub: str = strawberry.field(description="The `sub` claim of the user's tokens.")
    name: str = strawberry.field(description="Display name, from the user's latest token.")
    role: Role = strawberry.field(
        description="Whether the user is a customer, an agent or an admin."
    )


@strawberry.type(description="A section of the Help page, or a question type inside one.")
class Category(Node):
    id: strawberry.ID = strawberry.field(description=f"The category's id. {NODE_ID}")
    slug: str = strawberry.field(
        description="Stable name to pass as categorySlug (e.g. app-help, metric-billing)."
    )
    name_ru: str = strawberry.field(description="Display name in Russian.")
    name_en: str = strawberry.field(description="Display name in English.")
    pk: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]

    @strawberry.field(description="Display name in the requested language.")
    def name(
        self,
        locale: Annotated[
            Locale, strawberry.argument(description="Language of the name; Russian by default.")
        ] = Locale.RU,
    ) -> str:
        return self.name_en if locale is Locale.EN else self.name_ru

    @strawberry.field(description="The section this question type belongs to.")
    def parent(self, info: Info) -> Category | None:
        if self.parent_id is None:
            return None
        return info.context.loaders.category(self.parent_id)

    @strawberry.field(
        description="Question types of this section (empty for leaves).",
        metadata=sizes.CATEGORIES.metadata,
    )
    async def children(self, info: Info) -> list[Category]:
        return await info.context.loaders.category_children(self.pk)

    @strawberry.field(description="Whether a ticket can be filed here (it has no question types).")
    async def selectable(self, info: Info) -> bool:
        return not await info.context.loaders.category_children(self.pk)


@strawberry.type(description="A file attached to a ticket or a message (or not yet attached).")
class Attachment(Node):
    id: strawberry.ID = strawberry.field(
        description=f"The attachment's id; pass an upload's id in attachmentIds. {NODE_ID}"
    )
    filename: str = strawberry.field(description="The name the uploader gave (display only).")
    content_type: str = strawberry.field(description="Decided from the content, not the client.")
    size: int = strawberry.field(description="File size in bytes.")
    state: AttachmentState = strawberry.field(
        description="UPLOADED until attached (seen by the uploader only), then LINKED."
    )
    created_at: datetime = strawberry.field(description="When the file was uploaded.")
    expires_at: datetime | None = strawberry.field(
        description="When an upload never attached is deleted."
    )
    pk: strawberry.Private[int]

    @strawberry.field(description="Download path (send the bearer token).")
    def url(self) -> str:
        # A global id is base64: quoted so that a "/" or "+" in one would stay one path segment.
        return f"/attachments/{quote(self.id, safe='=')}"


@strawberry.type(description="One turn of a ticket's conversation.")
class Message(Node):
    id: strawberry.ID = strawberry.field(
        description=f"The message's id (messageId when recommending it as the solution). {NODE_ID}"
    )
    body: str = strawberry.field(description="The message text.")
    internal: bool = strawberry.field(description="An agents-only note; never shown to customers.")
    created_at: datetime = strawberry.field(description="When the message was sent.")
    pk: strawberry.Private[int]
    author_id: strawberry.Private[str]

    @strawberry.field(description="Who wrote the message: the ticket's owner or support staff.")
    def author(self, info: Info) -> User:
        return info.context.loaders.user(self.author_id)

    @strawberry.field(
        description="Files attached to this message.", metadata=sizes.ATTACHMENTS.metadata
    )
    async def attachments(self, info: Info) -> list[Attachment]:
        return await info.context.loaders.message_attachments.load(self.pk)


@strawberry.type(description="A support request and its conversation.")
class Ticket(Node):
    id: strawberry.ID = strawberry.field(
        description=f"The ticket's id, to pass as ticketId (not the human number). {NODE_ID}"
    )
    number: int = strawberry.field(description="Human, sequential ticket number.")
    summary: str = strawberry.field(description="Short description (derived from the question).")
    question: str = strawberry.field(description="The customer's question, in full.")
    urgent: bool = strawberry.field(description="Whether the ticket is marked urgent (Срочно).")
    status: TicketStatus = strawberry.field(description="Where the ticket is in its life.")
    rejection_reason: str | None = strawberry.field(
        description="Why the ticket was rejected; set when status is REJECTED."
    )
    created_at: datetime = strawberry.field(description="When the ticket was opened.")
    updated_at: datetime = strawberry.field(
        description="When the ticket last changed, replies included."
    )
    closed_at: datetime | None = strawberry.field(
        description="When the ticket became CLOSED or REJECTED; null while it is not final."
    )
    version: int = strawberry.field(
        description="Increments on every change; pass as expectedVersion to detect conflicts."
    )
    pk: strawberry.Private[int]
    owner_id: strawberry.Private[str]
    category_id: strawberry.Private[int]
    assignee_id: strawberry.Private[str | None]
    follow_up_of_id: strawberry.Private[int | None]
    solution_message_id: strawberry.Private[int | None]
    sla_policy_id: strawberry.Private[int | None]
    first_response_due_at: strawberry.Private[datetime | None]
    first_responded_at: strawberry.Private[datetime | None]
    resolution_due_at: strawberry.Private[datetime | None]
    sla_paused_since: strawberry.Private[datetime | None]
    first_response_breached: strawberry.Private[bool]
    resolution_breached: strawberry.Private[bool]

    @strawberry.field(description="The customer who opened the ticket.")
    def owner(self, info: Info) -> User:
        return info.context.loaders.user(self.owner_id)

    @strawberry.field(description="The agent working on the ticket; null until someone takes it.")
    def assignee(self, info: Info) -> User | None:
        if self.assignee_id is None:
            return None
        return info.context.loaders.user(self.assignee_id)

    @strawberry.field(
        description="The ticket's category: a section without question types, or a question type."
    )
    def category(self, info: Info) -> Category:
        return info.context.loaders.category(self.category_id)

    @strawberry.field(
        description="The earlier ticket this one continues, if the viewer may see it."
    )
    async def follow_up_of(self, info: Info) -> Ticket | None:
        if self.follow_up_of_id is None:
            return None
        return await info.context.loaders.tickets.load(self.follow_up_of_id)

    @strawberry.field(
        description="Files attached when the ticket was created.",
        metadata=sizes.ATTACHMENTS.metadata,
    )
    async def attachments(self, info: Info) -> list[Attachment]:
        return await info.context.loaders.ticket_attachments.load(self.pk)

    @strawberry.field(
        description="The conversation, oldest first: its first `first` messages.",
        metadata=sizes.TICKET_LIST.metadata,
    )
    async def messages(
        self, info: Info, first: ListFirst = sizes.TICKET_LIST.default
    ) -> list[Message]:
        return await info.context.loaders.messages.load((self.pk, sizes.TICKET_LIST.items(first)))

    @strawberry.field(description="The newest message of the conversation.")
    async def last_message(self, info: Info) -> Message | None:
        return await info.context.loaders.last_message.load(self.pk)

    @strawberry.field(
        description="The ticket's history, oldest first: its first `first` events (the whole "
        "log pages through `ticketEvents`).",
        metadata=sizes.TICKET_LIST.metadata,
    )
    async def events(
        self, info: Info, first: ListFirst = sizes.TICKET_LIST.default
    ) -> list[TicketEvent]:
        return await info.context.loaders.events.load((self.pk, sizes.TICKET_LIST.items(first)))

    @strawberry.field(
        description="Messages and events in one chronological list (message events are the "
        "messages themselves): its first `first` entries.",
        metadata=sizes.TICKET_LIST.metadata,
    )
    async def timeline(
        self, info: Info, first: ListFirst = sizes.TICKET_LIST.default
    ) -> list[TimelineItem]:
        # The first n entries come from the first n messages and the first n events (each
        # message has its one event, which the timeline shows as the message).
        key = (self.pk, sizes.TICKET_LIST.items(first))
        messages = await info.context.loaders.messages.load(key)
        events = await info.context.loaders.events.load(key)
        items: list[tuple[datetime, int, int, Message | TicketEvent]] = [
            (m.created_at, 0, m.pk, m) for m in messages
        ]
        items += [(e.at, 1, e.pk, e) for e in events if e.kind is not EventKind.MESSAGE_ADDED]
        return [item for *_, item in sorted(items, key=lambda i: i[:3])][: key[1]]

    @strawberry.field(description="The support reply recommended as the solution.")
    async def recommended_solution(self, info: Info) -> Message | None:
        if self.solution_message_id is None:
            return None
        return await info.context.loaders.message.load(self.solution_message_id)

    @strawberry.field(description="The owner's category change waiting for the agent's decision.")
    async def pending_recategorization(self, info: Info) -> RecategorizationRequest | None:
        return await info.context.loaders.pending_request.load(self.pk)

    @strawberry.field(
        description="Staff: the service level (due times, what met them, breaches); null for "
        "customers and for tickets without a policy."
    )
    def sla(self, info: Info) -> TicketSla | None:
        return info.context.loaders.sla(self)

    @strawberry.field(
        description="The owner's satisfaction rating, once the ticket is rated (rateTicket)."
    )
    async def satisfaction(self, info: Info) -> SatisfactionRating | None:
        return await info.context.loaders.satisfaction.load(self.pk)

    @strawberry.field(
        description="For the viewer: messages by others since they last read the ticket "
        "(markTicketRead; internal notes count for staff only). A customer's own ticket never "
        "read counts every answer; staff count only tickets they have read before (0 otherwise).",
        metadata=PER_VIEWER,
    )
    def unread_count(self, info: Info) -> int:
        return info.context.loaders.unread_count(self.pk)

    @strawberry.field(
        description="For the viewer: the time of the newest event they have read on this ticket "
        "(messages at or before it are read); null while they never marked it read.",
        metadata=PER_VIEWER,
    )
    def last_read_at(self, info: Info) -> datetime | None:
        return info.context.loaders.last_read_at(self.pk)

    @strawberry.field(
        description="What the viewer may do with this ticket, and why not.", metadata=PER_VIEWER
    )
    async def viewer_can(self, info: Info) -> TicketPermissions:
        return await info.context.loaders.permissions(self)


@strawberry.type(description="Something that happened to a ticket: who, what, when, from and to.")
class TicketEvent(Node):
    id: strawberry.ID = strawberry.field(
        description="The event's id, also its cursor: pass it as `after` to continue after "
        f"this event. {NODE_ID}"
    )
    kind: EventKind = strawberry.field(description="What happened; says which fields are set.")
    at: datetime = strawberry.field(description="When it happened.")
    from_status: TicketStatus | None = strawberry.field(
        description="The status before a STATUS_CHANGED; null for other kinds."
    )
    to_status: TicketStatus | None = strawberry.field(
        description="The status after a STATUS_CHANGED (OPEN for CREATED); null for other kinds."
    )
    comment: str | None = strawberry.field(
        description="Rejection reason, or the agent's comment on a recategorization request."
    )
    urgent: bool | None = strawberry.field(description="The new urgency (URGENCY_CHANGED).")
    score: int | None = strawberry.field(description="The score given (RATED).")
    sla_target: SlaTarget | None = strawberry.field(
        description="The target whose due time passed (SLA_BREACHED, staff only)."
    )
    pk: strawberry.Private[int]
    ticket_id: strawberry.Private[int]
    actor_id: strawberry.Private[str]
    from_category_id: strawberry.Private[int | None]
    to_category_id: strawberry.Private[int | None]
    message_id: strawberry.Private[int | None]
    from_assignee_id: strawberry.Private[str | None]
    to_assignee_id: strawberry.Private[str | None]
    request_id: strawberry.Private[int | None]

    @strawberry.field(description="The previous assignee (ASSIGNED); null if there was none.")
    def from_assignee(self, info: Info) -> User | None:
        if self.from_assignee_id is None:
            return None
        return info.context.loaders.user(self.from_assignee_id)

    @strawberry.field(description="The new assignee (ASSIGNED); null for other kinds.")
    def to_assignee(self, info: Info) -> User | None:
        if self.to_assignee_id is None:
            return None
        return info.context.loaders.user(self.to_assignee_id)

    @strawberry.field(
        description="The request this event is about: asked, declined, or approved "
        "(CATEGORY_CHANGED); null otherwise."
    )
    async def recategorization_request(self, info: Info) -> RecategorizationRequest | None:
        if self.request_id is None:
            return None
        return await info.context.loaders.request.load(self.request_id)

    @strawberry.field(description="The ticket it happened to; null if the viewer may not see it.")
    async def ticket(self, info: Info) -> Ticket | None:
        return await info.context.loaders.tickets.load(self.ticket_id)

    @strawberry.field(description="Who made the change.")
    def actor(self, info: Info) -> User:
        return info.context.loaders.user(self.actor_id)

    @strawberry.field(
        description="The category before (CATEGORY_CHANGED, RECATEGORIZATION_REQUESTED)."
    )
    def from_category(self, info: Info) -> Category | None:
        if self.from_category_id is None:
            return None
        return info.context.loaders.category(self.from_category_id)

    @strawberry.field(
        description="The category after, or the one asked for (RECATEGORIZATION_REQUESTED)."
    )
    def to_category(self, info: Info) -> Category | None:
        if self.to_category_id is None:
            return None
        return info.context.loaders.category(self.to_category_id)

    @strawberry.field(
        description="The message added (MESSAGE_ADDED) or recommended (SOLUTION_MARKED)."
    )
    async def message(self, info: Info) -> Message | None:
        if self.message_id is None:
            return None
        return await info.context.loaders.message.load(self.message_id)


TimelineItem = Annotated[
    Message | TicketEvent,
    strawberry.union(
        "TimelineItem",
        description="An entry of a ticket's timeline: a message, or an event other than a message.",
    ),
]


@strawberry.type(description="The customer's wish to move a ticket in work to another category.")
class RecategorizationRequest(Node):
    id: strawberry.ID = strawberry.field(
        description=f"The request's id, to pass as requestId. {NODE_ID}"
    )
    status: RequestStatus = strawberry.field(
        description="PENDING until approved or declined; CANCELLED when the ticket moved on."
    )
    comment: str | None = strawberry.field(description="The deciding agent's comment.")
    created_at: datetime = strawberry.field(description="When the owner asked.")
    decided_at: datetime | None = strawberry.field(
        description="When the request was approved, declined or cancelled; null while PENDING."
    )
    pk: strawberry.Private[int]
    ticket_id: strawberry.Private[int]
    requested_by_id: strawberry.Private[str]
    decided_by_id: strawberry.Private[str | None]
    from_category_id: strawberry.Private[int]
    to_category_id: strawberry.Private[int]

    @strawberry.field(description="The ticket to recategorize; null if the viewer may not see it.")
    async def ticket(self, info: Info) -> Ticket | None:
        return await info.context.loaders.tickets.load(self.ticket_id)

    @strawberry.field(description="The ticket's owner who asked.")
    def requested_by(self, info: Info) -> User:
        return info.context.loaders.user(self.requested_by_id)

    @strawberry.field(
        description="Who approved, declined or cancelled the request; null while PENDING."
    )
    def decided_by(self, info: Info) -> User | None:
        if self.decided_by_id is None:
            return None
        return info.context.loaders.user(self.decided_by_id)

    @strawberry.field(description="The ticket's category when the request was made.")
    def from_category(self, info: Info) -> Category:
        return info.context.loaders.category(self.from_category_id)

    @strawberry.field(description="The category the owner asked for.")
    def to_category(self, info: Info) -> Category:
        return info.context.loaders.category(self.to_category_id)


@strawberry.type(description="Whether the viewer may do one thing, and why not.")
class Permission:
    allowed: bool = strawberry.field(description="Whether the viewer may do it now.")
    reason: str | None = strawberry.field(description="Why not, when not allowed.")


@strawberry.type(description="What the viewer may do with a ticket (same rules as the mutations).")
class TicketPermissions:
    reply: Permission = strawberry.field(description="Reply to the ticket (replyToTicket).")
    take_into_work: Permission = strawberry.field(
        description="Take the ticket into work (takeTicket)."
    )
    change_status: Permission = strawberry.field(description="At least one status change.")
    recategorize: Permission = strawberry.field(description="Change the category directly.")
    request_recategorization: Permission = strawberry.field(
        description="Ask the assigned agent for a category change."
    )
    close: Permission = strawberry.field(description="Close the ticket (status CLOSED).")
    reject: Permission = strawberry.field(
        description="Reject the ticket (status REJECTED, with a reason)."
    )
    assign: Permission = strawberry.field(description="Assign the ticket (assignTicket).")
    set_urgent: Permission = strawberry.field(
        description="Mark the ticket urgent or not (setTicketUrgent)."
    )
    decide_recategorization: Permission = strawberry.field(
        description="Approve or decline the pending recategorization request."
    )
    mark_solution: Permission = strawberry.field(
        description="Recommend a support reply as the solution (markRecommendedSolution)."
    )


@strawberry.type(description="A frequently asked question or a tip from the Help page.")
class FaqEntry:
    slug: str = strawberry.field(description="Stable name of the entry.")
    kind: FaqKind = strawberry.field(description="A question (FAQ) or a tip (TIP).")
    question_ru: str = strawberry.field(description="The question (or tip title) in Russian.")
    question_en: str = strawberry.field(description="The question (or tip title) in English.")
    answer_ru: str = strawberry.field(description="The answer in Russian.")
    answer_en: str = strawberry.field(description="The answer in English.")

    @strawberry.field(description="The question (or tip title) in the requested language.")
    def question(
        self,
        locale: Annotated[
            Locale, strawberry.argument(description="Language of the text; Russian by default.")
        ] = Locale.RU,
    ) -> str:
        return self.question_en if locale is Locale.EN else self.question_ru

    @strawberry.field(description="The answer in the requested language.")
    def answer(
        self,
        locale: Annotated[
            Locale, strawberry.argument(description="Language of the text; Russian by default.")
        ] = Locale.RU,
    ) -> str:
        return self.answer_en if locale is Locale.EN else self.answer_ru


@strawberry.type(description="One event of a page of the event log, with its cursor.")
class TicketEventEdge:
    cursor: str = strawberry.field(
        description="The event's id; pass it as `after` to continue after this event."
    )
    node: TicketEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of the event log, in commit order.")
class TicketEventConnection:
    edges: list[TicketEventEdge] = strawberry.field(
        description="The events of this page, oldest first.", metadata=sizes.PAGE.metadata
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more events follow, and the cursors of this page."
    )


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Whether items come before this page (paging forward: whether `after` was "
        "given)."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item (pass as `after` for the next page); "
        "null when the page is empty."
    )


@strawberry.type(description="One ticket of a page of tickets, with its cursor.")
class TicketEdge:
    cursor: str = strawberry.field(
        description="Opaque position of this ticket; pass it as `after` or `before`."
    )
    node: Ticket = strawberry.field(description="The ticket.")


@strawberry.type(description="How many tickets of the filter are in one status.")
class StatusCount:
    status: TicketStatus = strawberry.field(description="The status counted.")
    count: int = strawberry.field(description="How many tickets are in this status.")


@strawberry.type(description="A page of tickets with totals for the whole filter.")
class TicketConnection:
    edges: list[TicketEdge] = strawberry.field(
        description="The tickets of this page, in the requested order.",
        metadata=sizes.PAGE.metadata,
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more tickets exist either side, and the cursors of this page."
    )
    counts: strawberry.Private[Any]

    @strawberry.field(description="Tickets matching the filter, over all pages.")
    async def total_count(self) -> int:
        return int(await self.counts.total_count())

    @strawberry.field(
        description="Tickets matching the filter by status, over all pages.",
        metadata=sizes.STATUSES.metadata,
    )
    async def counts_by_status(self) -> list[StatusCount]:
        counts = await self.counts.counts_by_status()
        return [StatusCount(status=s, count=counts.get(s, 0)) for s in TicketStatus]


@strawberry.type(description="Working time: due times count only within it.")
class BusinessHours:
    time_zone: str = strawberry.field(description="IANA time zone of the hours (Europe/Moscow).")
    weekdays: list[int] = strawberry.field(
        description="ISO weekdays counted, 1 (Monday) to 7 (Sunday).",
        metadata=sizes.WEEKDAYS.metadata,
    )
    start: str = strawberry.field(description="Local start of each working day, HH:MM.")
    end: str = strawberry.field(description="Local end of each working day, HH:MM (24:00).")


@strawberry.type(description="Staff: how soon tickets of a category and urgency are answered.")
class SlaPolicy(Node):
    id: strawberry.ID = strawberry.field(description=f"The policy's id. {NODE_ID}")
    pk: strawberry.Private[int]
    urgent: bool = strawberry.field(description="Whether it is for urgent tickets.")
    first_response_minutes: int = strawberry.field(
        description="Minutes (of business hours, if any) to the first public reply of staff."
    )
    resolution_minutes: int = strawberry.field(
        description="Minutes (of business hours, if any) to CLOSED or REJECTED."
    )
    business_hours: BusinessHours | None = strawberry.field(
        description="When the minutes count; null: around the clock."
    )
    created_at: datetime = strawberry.field(
        description="Since when it applies (to tickets created after it)."
    )
    category_id: strawberry.Private[int]

    @strawberry.field(description="The leaf category it applies to.")
    def category(self, info: Info) -> Category:
        return info.context.loaders.category(self.category_id)


@strawberry.type(
    description="A ticket's service level. The clock stops while the ticket is AWAITING_REPLY: "
    "on resuming, unmet due times move by the paused (business) time."
)
class TicketSla:
    first_response_due_at: datetime | None = strawberry.field(
        description="When the first public reply of staff is due."
    )
    first_responded_at: datetime | None = strawberry.field(
        description="When staff first replied publicly; null until then."
    )
    resolution_due_at: datetime | None = strawberry.field(
        description="When the ticket is due to be CLOSED or REJECTED."
    )
    resolved_at: datetime | None = strawberry.field(
        description="When the ticket became CLOSED or REJECTED; null until then."
    )
    paused_since: datetime | None = strawberry.field(
        description="Set while the ticket is AWAITING_REPLY: the clock stopped then."
    )
    first_response_breached: bool = strawberry.field(
        description="The first response came (or is still missing) after its due time."
    )
    resolution_breached: bool = strawberry.field(
        description="The resolution came (or is still missing) after its due time."
    )
    policy_id: strawberry.Private[int]

    @strawberry.field(description="The policy the due times follow.")
    async def policy(self, info: Info) -> SlaPolicy:
        return await info.context.loaders.sla_policy.load(self.policy_id)


@strawberry.type(description="The owner's rating of a closed ticket (customer satisfaction).")
class SatisfactionRating(Node):
    id: strawberry.ID = strawberry.field(description=f"The rating's id. {NODE_ID}")
    pk: strawberry.Private[int]
    score: int = strawberry.field(description="1 (very unhappy) to 5 (very happy).")
    comment: str | None = strawberry.field(description="What the owner added, if anything.")
    rated_at: datetime = strawberry.field(description="When the ticket was (last) rated.")


@strawberry.type(description="How many ratings gave one score.")
class ScoreCount:
    score: int = strawberry.field(description="The score, 1 to 5.")
    count: int = strawberry.field(description="How many ratings gave it.")


@strawberry.type(description="Customer satisfaction over the ratings of a category and period.")
class SatisfactionStats:
    count: int = strawberry.field(description="How many tickets were rated.")
    average: float | None = strawberry.field(
        description="The mean score (two decimals); null when nothing was rated."
    )
    by_score: list[ScoreCount] = strawberry.field(
        description="Ratings per score, 1 to 5, zeros included.",
        metadata=sizes.SCORES.metadata,
    )


@strawberry.type(description="Why a mutation did not happen. Nothing was changed.")
class UserError:
    code: ErrorCode = strawberry.field(description="What went wrong, for programs.")
    field: str | None = strawberry.field(description="The input field at fault, if one is.")
    message: str = strawberry.field(description="What went wrong, for people.")
    retry_after: float | None = strawberry.field(
        default=None, description="With RATE_LIMITED: seconds to wait before trying again."
    )


@strawberry.type(description="How many active (not final) tickets are in one category.")
class CategoryCount:
    count: int = strawberry.field(description="Tickets not yet CLOSED or REJECTED in the category.")
    category_id: strawberry.Private[int]

    @strawberry.field(description="The category counted.")
    def category(self, info: Info) -> Category:
        return info.context.loaders.category(self.category_id)


@strawberry.type(description="Dashboard figures over the tickets the viewer may see.")
class TicketStats:
    counts_by_status: list[StatusCount] = strawberry.field(
        description="Tickets in each status; every status is listed, zeros included.",
        metadata=sizes.STATUSES.metadata,
    )
    active_by_category: list[CategoryCount] = strawberry.field(
        description="Tickets not yet CLOSED or REJECTED, by category.",
        metadata=sizes.CATEGORIES.metadata,
    )
    urgent_active: int = strawberry.field(description="Urgent tickets not yet final.")
    sla_breached_active: int = strawberry.field(
        description="Staff: tickets not yet final with a breached SLA target (0 for customers)."
    )
    oldest_open_created_at: datetime | None = strawberry.field(
        description="When the longest-waiting OPEN ticket was created."
    )
    computed_at: datetime = strawberry.field(description="When these figures were computed.")

    @strawberry.field(description="Seconds the longest-waiting OPEN ticket has waited.")
    def oldest_open_age_seconds(self) -> int | None:
        if self.oldest_open_created_at is None:
            return None
        return max(0, int((self.computed_at - self.oldest_open_created_at).total_seconds()))


@strawberry.type(description="The viewer marked a ticket read, on one of their connections.")
class ReadStateChange:
    ticket: Ticket | None = strawberry.field(
        description="The ticket marked read, with the viewer's unreadCount and lastReadAt now; "
        "null in the first message, which only gives the count."
    )
    unread_ticket_count: int = strawberry.field(
        description="How many of the viewer's tickets have unread messages now "
        "(as the query unreadTicketCount)."
    )


@strawberry.type(description="Someone who has a ticket open now (support sees these).")
class PresenceEntry:
    user: User = strawberry.field(description="Who it is.")
    typing: bool = strawberry.field(description="Whether they are typing a reply right now.")
    since: datetime = strawberry.field(description="Since when they have had the ticket open.")


@strawberry.type(
    description="Who is looking at a ticket now. Support sees every person; a customer sees "
    "only themselves in `viewers`, never who from support is there, and `agentTyping`."
)
class TicketPresence:
    viewers: list[PresenceEntry] = strawberry.field(
        description="The people with the ticket open, the longest there first. For a customer, "
        "only themselves.",
        metadata=sizes.PRESENCE.metadata,
    )
    agent_typing: bool = strawberry.field(
        description="Whether someone from support is typing in this ticket right now."
    )
