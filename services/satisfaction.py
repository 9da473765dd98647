"""Customer satisfaction (CSAT): the owner rates a closed ticket, staff read the figures.

A rating is a change of the ticket like any other (`services.ticket_work.change_ticket`): a
version bump and a RATED event in one transaction, published after commit, idempotent with a
`clientMutationId`. Rating again within the window replaces the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from models import EventKind, SatisfactionRating, Ticket, TicketEvent
from pubsub import Broker
from services import events, idempotency, policy, visibility
from services.categories import category_ids_under
from services.clock import clock
from services.errors import ErrorCode, FieldError, Forbidden, UserInputError
from services.ticket_work import Change, change_ticket
from services.validation import check_client_mutation_id, clean_text, period_arguments
from services.viewer import Viewer, require_viewer

SCORES = range(1, 6)
COMMENT_MAX = 2_000
DEFAULT_RATING_DAYS = 7


@dataclass(frozen=True, slots=True)
class Rated:
    ticket: Ticket
    rating: SatisfactionRating


async def rate_ticket(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    score: int,
    comment: str | None = None,
    window: timedelta = timedelta(days=DEFAULT_RATING_DAYS),
    client_mutation_id: str | None = None,
) -> Rated:
    """The owner rates a CLOSED ticket 1 to 5 within `window` after it closed (RATING_CLOSED
    after that; INVALID_TRANSITION in any other status); rating again replaces the rating."""
    actor = require_viewer(viewer)
    errors: list[FieldError] = []
    if score not in SCORES:
        errors.append(
            FieldError(ErrorCode.VALIDATION, f"score must be {SCORES[0]} to {SCORES[-1]}.", "score")
        )
    text = (
        None
        if comment is None
        else clean_text(
            comment, field="comment", max_length=COMMENT_MAX, errors=errors, required=True
        )
    )
    check_client_mutation_id(client_mutation_id, errors)
    if errors:
        raise UserInputError.many(errors)

    request = idempotency.request(
        "rateTicket", client_mutation_id, ticket_id=ticket_id, score=score, comment=text
    )
    if first := await idempotency.first_ticket(actor, request):
        return Rated(first, await SatisfactionRating.get(ticket_id=first.id))

    rated: list[SatisfactionRating] = []

    async def plan(ticket: Ticket) -> Change:
        policy.rate(
            actor, ticket, closed_at=ticket.closed_at, now=clock.now(), window=window
        ).enforce()

        async def record(ticket: Ticket, now: datetime) -> list[TicketEvent]:
            values: dict[str, Any] = {"score": score, "comment": text, "rated_at": now}
            rating = await SatisfactionRating.get_or_none(ticket_id=ticket.id)
            if rating is None:
                rating = await SatisfactionRating.create(ticket_id=ticket.id, **values)
            else:
                await SatisfactionRating.filter(id=rating.id).update(**values)
                rating.update_from_dict(values)
            rated.append(rating)
            await idempotency.remember(actor, request, ticket_id=ticket.id)
            return [
                await events.record(
                    ticket, EventKind.RATED, actor_id=actor.id, at=now, data={"score": score}
                )
            ]

        return Change({}, record)

    try:
        ticket = await change_ticket(
            viewer=actor, broker=broker, ticket_id=ticket_id, expected_version=None, plan=plan
        )
    except IntegrityError:
        # A concurrent retry with the same key committed first: answer with its result.
        if first := await idempotency.first_ticket(actor, request):
            return Rated(first, await SatisfactionRating.get(ticket_id=first.id))
        raise
    return Rated(ticket, rated[-1])


async def ratings_of(*, viewer: Viewer, ticket_ids: Sequence[int]) -> dict[int, SatisfactionRating]:
    """The rating of each visible ticket that has one."""
    query = visibility.ratings(viewer).filter(ticket_id__in=list(set(ticket_ids)))
    return {r.ticket_id: r for r in await query}


async def get_ratings(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, SatisfactionRating]:
    """Ratings by id, of tickets the viewer may see."""
    query = visibility.ratings(viewer).filter(id__in=list(set(ids)))
    return {r.id: r for r in await query}


@dataclass(frozen=True, slots=True)
class SatisfactionStats:
    count: int
    average: float | None
    by_score: dict[int, int]


async def satisfaction_stats(
    *,
    viewer: Viewer | None,
    category_slug: str | None = None,
    rated_from: datetime | None = None,
    rated_to: datetime | None = None,
) -> SatisfactionStats:
    """Staff: how many ratings, their average and their distribution, for a category (a section
    includes its question types) and a period of rating (from inclusive, to exclusive)."""
    viewer = require_viewer(viewer)
    if not visibility.may_see_service_levels(viewer):
        raise Forbidden("Only support staff read satisfaction figures.")
    query = visibility.ratings(viewer)
    if category_slug is not None:
        ids = await category_ids_under(slug=category_slug)
        query = query.filter(ticket__category_id__in=ids)
    start, end = period_arguments("from", rated_from, "to", rated_to)
    if start is not None:
        query = query.filter(rated_at__gte=start)
    if end is not None:
        query = query.filter(rated_at__lt=end)
    rows = await query.group_by("score").annotate(n=Count("id")).values("score", "n")
    by_score = {int(r["score"]): int(r["n"]) for r in rows}
    count = sum(by_score.values())
    total = sum(score * n for score, n in by_score.items())
    return SatisfactionStats(
        count=count,
        average=round(total / count, 2) if count else None,
        by_score={score: by_score.get(score, 0) for score in SCORES},
    )
