"""Root subscription fields (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Collection, Sequence
from contextlib import aclosing
from typing import Annotated, Any, Protocol

import strawberry

from resolvers import mappers
from resolvers.context import Info
from resolvers.selection import selected
from schema.enums import EventKind
from schema.inputs import TicketScope
from schema.metadata import STATE_FIRST, WHOLE_STATE
from schema.types import ReadStateChange, TicketEvent, TicketPresence, TicketStats
from services import read_state
from services.errors import BadRequest, ErrorCode, UserInputError
from services.validation import TICKET, as_event_cursor, as_id
from services.viewer import require_viewer


async def _events(
    info: Info,
    ticket_id: strawberry.ID | None,
    after: str | None,
    kinds: Collection[EventKind] | None,
) -> AsyncGenerator[TicketEvent, None]:
    ctx = info.context
    viewer = require_viewer(ctx.viewer)
    parsed = None if ticket_id is None else as_id(ticket_id, TICKET)
    if ticket_id is not None and parsed is None:
        raise UserInputError(ErrorCode.NOT_FOUND, "Ticket not found.", "ticketId")
    after_id = None if after is None else as_event_cursor(after)
    if after is not None and after_id is None:
        raise BadRequest("Invalid cursor: pass the id of an event.")
    with_ticket = "ticket" in selected(info)

    def batch(events: Sequence[_OfTicket]) -> None:
        # Relations are read anew for each batch of events that came together, and their
        # tickets in one statement: the events are executed one by one, but wait on one read.
        ctx.fresh_loaders()
        if with_ticket:
            for ticket_id in {event.ticket_id for event in events}:
                read = asyncio.ensure_future(ctx.loaders.tickets.load(ticket_id))
                read.add_done_callback(_retrieved)

    stream = ctx.feed.events(
        viewer=viewer,
        ticket_id=parsed,
        after=after_id,
        kinds=kinds,
        expires_at=ctx.expires_at,
        batch=batch,
    )
    async for event in stream:
        yield mappers.event(event)


class _OfTicket(Protocol):
    ticket_id: int


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A read ahead that no event awaited (the stream ended first) fails quietly."""
    if not future.cancelled():
        future.exception()


@strawberry.type(description="Live updates over WebSocket (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(
        description="Every event the viewer may see, of one ticket or of all. With `after` (an "
        "event id), first the events after it from the log, then live: no gap, no duplicate."
    )
    async def ticket_events(
        self,
        info: Info,
        ticket_id: TicketScope = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="An event's id: replay the logged events after it first; live only "
                "when omitted. Plain event numbers from earlier versions are still accepted."
            ),
        ] = None,
    ) -> AsyncGenerator[TicketEvent, None]:
        async for event in _events(info, ticket_id, after, None):
            yield event

    @strawberry.subscription(
        description="Status changes of one ticket, or of every ticket the viewer may see."
    )
    async def ticket_status_changed(
        self,
        info: Info,
        ticket_id: TicketScope = None,
    ) -> AsyncGenerator[TicketEvent, None]:
        async for event in _events(info, ticket_id, None, {EventKind.STATUS_CHANGED}):
            yield event

    @strawberry.subscription(
        description="Dashboard figures now, then after changes, at most once per second.",
        metadata=WHOLE_STATE,
    )
    async def ticket_stats_changed(self, info: Info) -> AsyncGenerator[TicketStats, None]:
        ctx = info.context
        viewer = require_viewer(ctx.viewer)
        async for stats in ctx.feed.stats_updates(viewer=viewer, expires_at=ctx.expires_at):
            ctx.fresh_loaders()
            yield mappers.stats(stats)

    @strawberry.subscription(
        description="The viewer's read state: first the count of tickets with unread messages "
        "now, then a message each time the viewer marks a ticket read on any connection (another "
        "tab, another device), so every badge clears. New messages arrive through ticketEvents.",
        metadata=STATE_FIRST,
    )
    async def read_state_changed(self, info: Info) -> AsyncGenerator[ReadStateChange, None]:
        ctx = info.context
        viewer = require_viewer(ctx.viewer)
        async for ticket_id in ctx.feed.read_marks.marks(viewer=viewer, expires_at=ctx.expires_at):
            ctx.fresh_loaders()
            ticket = None if ticket_id is None else await ctx.loaders.tickets.load(ticket_id)
            count = await read_state.unread_ticket_count(viewer=viewer)
            yield ReadStateChange(ticket=ticket, unread_ticket_count=count)

    @strawberry.subscription(
        description="Who has the ticket open now, then again whenever that changes. Subscribing "
        "marks the viewer as viewing it until the subscription ends (a client that vanishes "
        "lapses within the server's heartbeat). Support sees every person; a customer, on their "
        "own ticket, sees only themselves and whether support is typing.",
        # Each subscriber is someone viewing, sent the list now: never one run for several.
        metadata=STATE_FIRST,
    )
    async def ticket_presence(
        self,
        info: Info,
        ticket_id: Annotated[strawberry.ID, strawberry.argument(description="The ticket.")],
    ) -> AsyncGenerator[TicketPresence, None]:
        ctx = info.context
        viewer = require_viewer(ctx.viewer)
        parsed = as_id(ticket_id, TICKET)
        if parsed is None:
            raise UserInputError(ErrorCode.NOT_FOUND, "Ticket not found.", "ticketId")
        assert ctx.presence is not None
        watching = ctx.presence.watch(viewer=viewer, ticket_id=parsed, expires_at=ctx.expires_at)
        async with aclosing(watching) as views:
            async for view in views:
                yield mappers.presence(view)
