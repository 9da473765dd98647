"""Domain objects → GraphQL types."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from schema import types
from services.validation import (
    ATTACHMENT,
    CATEGORY,
    EVENT,
    MESSAGE,
    REQUEST,
    TICKET,
    USER,
    global_id,
)

if TYPE_CHECKING:
    from models import (
        Attachment,
        Category,
        FaqEntry,
        Message,
        RecategorizationRequest,
        Ticket,
        TicketEvent,
        User,
    )
    from services.stats import TicketStats


def user(u: User) -> types.User:
    return user_of(u.id, u.name, u.role)


def user_of(sub: str, name: str, role: types.Role) -> types.User:
    return types.User(id=_id(USER, sub), sub=sub, name=name, role=role)


def _id(type_name: str, key: int | str) -> strawberry.ID:
    # Computed once as the object is built: `id` stays a plain attribute on the fast path.
    return strawberry.ID(global_id(type_name, key))


def category(c: Category) -> types.Category:
    return types.Category(
        id=_id(CATEGORY, c.id),
        pk=c.id,
        slug=c.slug,
        name_ru=c.name_ru,
        name_en=c.name_en,
        parent_id=c.parent_id,
    )


def ticket(t: Ticket) -> types.Ticket:
    return types.Ticket(
        id=_id(TICKET, t.id),
        pk=t.id,
        number=t.number,
        summary=t.summary,
        question=t.question,
        urgent=t.urgent,
        status=t.status,
        rejection_reason=t.rejection_reason,
        created_at=t.created_at,
        updated_at=t.updated_at,
        closed_at=t.closed_at,
        version=t.version,
        owner_id=t.owner_id,
        category_id=t.category_id,
        assignee_id=t.assignee_id,
        follow_up_of_id=t.follow_up_of_id,
        solution_message_id=t.solution_message_id,
    )


def message(m: Message) -> types.Message:
    return types.Message(
        id=_id(MESSAGE, m.id),
        pk=m.id,
        body=m.body,
        internal=m.internal,
        created_at=m.created_at,
        author_id=m.author_id,
    )


def event(e: TicketEvent) -> types.TicketEvent:
    return types.TicketEvent(
        id=_id(EVENT, e.id),
        pk=e.id,
        kind=e.kind,
        at=e.at,
        from_status=e.from_status,
        to_status=e.to_status,
        comment=e.comment,
        urgent=(e.data or {}).get("urgent"),
        ticket_id=e.ticket_id,
        actor_id=e.actor_id,
        from_category_id=e.from_category_id,
        to_category_id=e.to_category_id,
        message_id=e.message_id,
        from_assignee_id=e.from_assignee_id,
        to_assignee_id=e.to_assignee_id,
        request_id=e.request_id,
    )


def request(r: RecategorizationRequest) -> types.RecategorizationRequest:
    return types.RecategorizationRequest(
        id=_id(REQUEST, r.id),
        pk=r.id,
        status=r.status,
        comment=r.comment,
        created_at=r.created_at,
        decided_at=r.decided_at,
        ticket_id=r.ticket_id,
        requested_by_id=r.requested_by_id,
        decided_by_id=r.decided_by_id,
        from_category_id=r.from_category_id,
        to_category_id=r.to_category_id,
    )


def faq(f: FaqEntry) -> types.FaqEntry:
    return types.FaqEntry(
        slug=f.slug,
        kind=f.kind,
        question_ru=f.question_ru,
        question_en=f.question_en,
        answer_ru=f.answer_ru,
        answer_en=f.answer_en,
    )


def stats(s: TicketStats) -> types.TicketStats:
    return types.TicketStats(
        counts_by_status=[
            types.StatusCount(status=status, count=s.by_status.get(status, 0))
            for status in types.TicketStatus
        ],
        active_by_category=[
            types.CategoryCount(category_id=cid, count=n)
            for cid, n in sorted(s.active_by_category.items())
        ],
        urgent_active=s.urgent_active,
        oldest_open_created_at=s.oldest_open_at,
        computed_at=s.computed_at,
    )


def attachment(a: Attachment) -> types.Attachment:
    return types.Attachment(
        id=_id(ATTACHMENT, a.id),
        pk=a.id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        state=a.state,
        created_at=a.created_at,
        expires_at=a.expires_at,
    )
