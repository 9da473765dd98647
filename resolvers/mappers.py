"""Domain objects → GraphQL types."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from schema import types
from schema.enums import SlaTarget
from services.sla import BusinessHours, format_minute
from services.validation import (
    ATTACHMENT,
    CATEGORY,
    EVENT,
    MESSAGE,
    RATING,
    REQUEST,
    SLA_POLICY,
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
        SatisfactionRating,
        SlaPolicy,
        Ticket,
        TicketEvent,
        User,
    )
    from services.presence import PresenceView
    from services.satisfaction import SatisfactionStats
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
        sla_policy_id=t.sla_policy_id,
        first_response_due_at=t.first_response_due_at,
        first_responded_at=t.first_responded_at,
        resolution_due_at=t.resolution_due_at,
        sla_paused_since=t.sla_paused_since,
        first_response_breached=t.first_response_breached,
        resolution_breached=t.resolution_breached,
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
        score=(e.data or {}).get("score"),
        sla_target=_sla_target((e.data or {}).get("slaTarget")),
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
        sla_breached_active=s.sla_breached_active,
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


def rating(r: SatisfactionRating) -> types.SatisfactionRating:
    return types.SatisfactionRating(
        id=_id(RATING, r.id), pk=r.id, score=r.score, comment=r.comment, rated_at=r.rated_at
    )


def satisfaction_stats(s: SatisfactionStats) -> types.SatisfactionStats:
    return types.SatisfactionStats(
        count=s.count,
        average=s.average,
        by_score=[types.ScoreCount(score=k, count=n) for k, n in s.by_score.items()],
    )


def _sla_target(value: str | None) -> SlaTarget | None:
    return None if value is None else SlaTarget(value)


def sla_policy(p: SlaPolicy) -> types.SlaPolicy:
    hours = BusinessHours.of(p.business_hours)
    return types.SlaPolicy(
        id=_id(SLA_POLICY, p.id),
        pk=p.id,
        urgent=p.urgent,
        first_response_minutes=p.first_response_minutes,
        resolution_minutes=p.resolution_minutes,
        business_hours=None
        if hours is None
        else types.BusinessHours(
            time_zone=hours.time_zone,
            weekdays=list(hours.weekdays),
            start=format_minute(hours.start),
            end=format_minute(hours.end),
        ),
        created_at=p.created_at,
        category_id=p.category_id,
    )


def ticket_sla(t: types.Ticket) -> types.TicketSla | None:
    if t.sla_policy_id is None:
        return None
    return types.TicketSla(
        first_response_due_at=t.first_response_due_at,
        first_responded_at=t.first_responded_at,
        resolution_due_at=t.resolution_due_at,
        resolved_at=t.closed_at,
        paused_since=t.sla_paused_since,
        first_response_breached=t.first_response_breached,
        resolution_breached=t.resolution_breached,
        policy_id=t.sla_policy_id,
    )


def presence(view: PresenceView) -> types.TicketPresence:
    return types.TicketPresence(
        viewers=[
            types.PresenceEntry(
                user=user_of(p.user_id, p.name, p.role), typing=p.typing, since=p.since
            )
            for p in view.viewers
        ],
        agent_typing=view.agent_typing,
    )
