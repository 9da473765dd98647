"""Root query fields."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import strawberry

from resolvers import mappers, nodes
from resolvers.context import Info
from resolvers.selection import selected
from schema import sizes
from schema.enums import FaqKind, OrderDirection
from schema.inputs import SatisfactionFilter, TicketFilter, TicketOrder, TicketScope
from schema.metadata import PER_VIEWER, PUBLIC
from schema.types import (
    Category,
    FaqEntry,
    Node,
    PageInfo,
    SatisfactionStats,
    SlaPolicy,
    Ticket,
    TicketConnection,
    TicketEdge,
    TicketEventConnection,
    TicketEventEdge,
    TicketStats,
    User,
)
from services import faq, read_state, satisfaction, sla, stats, ticket_reads
from services.pagination import Page, PageArgs
from services.validation import TICKET, as_id
from services.viewer import require_viewer


def page_info(page: Page[Any]) -> PageInfo:
    cursors = [cursor for cursor, _ in page.items]
    return PageInfo(
        has_next_page=page.has_next_page,
        has_previous_page=page.has_previous_page,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@strawberry.type(
    description="Reads: the viewer, categories, FAQ, tickets, their history and dashboard figures."
)
class Query:
    @strawberry.field(description="The signed-in user.", metadata=PER_VIEWER)
    async def me(self, info: Info) -> User:
        viewer = require_viewer(info.context.viewer)
        return await info.context.loaders.users.load(viewer.id)

    @strawberry.field(
        description="Sections of the Help page with their question types. Public.",
        metadata={**sizes.CATEGORIES.metadata, **PUBLIC},
    )
    async def categories(self, info: Info) -> list[Category]:
        return await info.context.loaders.category_roots()

    @strawberry.field(
        description="How many of the viewer's tickets have messages they have not read: a "
        "customer's own tickets, for staff the tickets they have opened (see "
        "`Ticket.unreadCount`).",
        metadata=PER_VIEWER,
    )
    async def unread_ticket_count(self, info: Info) -> int:
        return await read_state.unread_ticket_count(viewer=info.context.viewer)

    @strawberry.field(description="Dashboard figures over the tickets the viewer may see.")
    async def ticket_stats(self, info: Info) -> TicketStats:
        return mappers.stats(await stats.ticket_stats(viewer=info.context.viewer))

    @strawberry.field(
        description="Staff: the current SLA policy of every leaf category and urgency.",
        metadata=sizes.SLA_POLICIES.metadata,
    )
    async def sla_policies(self, info: Info) -> list[SlaPolicy]:
        found = await sla.list_policies(viewer=info.context.viewer)
        return [mappers.sla_policy(p) for p in found[: sizes.SLA_POLICIES.maximum]]

    @strawberry.field(
        description="Staff: customer satisfaction (ratings of closed tickets) for a category "
        "and period."
    )
    async def satisfaction_stats(
        self,
        info: Info,
        filter: Annotated[
            SatisfactionFilter | None,
            strawberry.argument(description="Which ratings to count; all when omitted."),
        ] = None,
    ) -> SatisfactionStats:
        f = filter or SatisfactionFilter()
        found = await satisfaction.satisfaction_stats(
            viewer=info.context.viewer,
            category_slug=f.category_slug,
            rated_from=f.from_,
            rated_to=f.to,
        )
        return mappers.satisfaction_stats(found)

    @strawberry.field(
        description="The Help page's FAQ and tips, in display order. Public.",
        metadata={**sizes.FAQ.metadata, **PUBLIC},
    )
    async def faq(
        self,
        kind: Annotated[
            FaqKind | None,
            strawberry.argument(description="Only entries of this kind; both kinds when omitted."),
        ] = None,
    ) -> list[FaqEntry]:
        entries = await faq.list_faq(kind=kind, limit=sizes.FAQ.maximum)
        return [mappers.faq(entry) for entry in entries]

    @strawberry.field(
        description="The event log in commit order, for catching up: events after the `after` "
        "cursor (an event id), of one ticket or of every ticket the viewer may see."
    )
    async def ticket_events(
        self,
        info: Info,
        ticket_id: TicketScope = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="An event's id (or a cursor of this page): only events after it; "
                "from the first event when omitted. Plain event numbers from earlier versions "
                "are still accepted."
            ),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(description="How many events, 0 to 100; 20 when omitted."),
        ] = None,
    ) -> TicketEventConnection:
        require_viewer(info.context.viewer)
        parsed = None if ticket_id is None else as_id(ticket_id, TICKET)
        if ticket_id is not None and parsed is None:
            parsed = 0  # names no ticket: an empty log, like a ticket the viewer cannot see
        page = await ticket_reads.list_events(
            viewer=info.context.viewer, ticket_id=parsed, after=after, first=first
        )
        edges = [TicketEventEdge(cursor=c, node=mappers.event(e)) for c, e in page.items]
        return TicketEventConnection(edges=edges, page_info=page_info(page))

    @strawberry.field(description="A ticket by id; null when missing or not visible to the viewer.")
    async def ticket(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The ticket's id.")],
    ) -> Ticket | None:
        ticket_id = as_id(id, TICKET)
        require_viewer(info.context.viewer)
        if ticket_id is None:
            return None
        found = await ticket_reads.get_ticket(viewer=info.context.viewer, ticket_id=ticket_id)
        return mappers.ticket(found) if found else None

    @strawberry.field(
        description="Any object by its global id (Relay); null when the id names nothing the "
        "viewer may see: missing, malformed, or not visible."
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        require_viewer(info.context.viewer)
        found = nodes.lookup(info.context.loaders, id)
        return None if found is None else await found

    @strawberry.field(
        description=f"Objects by their global ids, in the same order, null for each id "
        f"`node` would answer null for; at most {sizes.NODES.maximum} ids.",
        metadata=sizes.NODES.metadata,
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"Up to {sizes.NODES.maximum} global ids."),
        ],
    ) -> list[Node | None]:
        require_viewer(info.context.viewer)
        sizes.NODES.check(len(ids), "The number of ids")
        loaders = info.context.loaders
        found = [nodes.lookup(loaders, i) for i in ids]  # each type's ids join one batch
        done = iter(await asyncio.gather(*[f for f in found if f is not None]))
        return [None if f is None else next(done) for f in found]

    @strawberry.field(
        description="The ticket history, newest first by default. Customers get only their own."
    )
    async def tickets(
        self,
        info: Info,
        filter: Annotated[
            TicketFilter | None,
            strawberry.argument(
                description="Conditions to meet; every visible ticket when omitted."
            ),
        ] = None,
        order_by: Annotated[
            TicketOrder | None,
            strawberry.argument(description="Sort order; newest created first when omitted."),
        ] = None,
        first: Annotated[
            int | None,
            strawberry.argument(
                description="Page size paging forward, 0 to 100 (20 when neither first nor last)."
            ),
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="A cursor: the tickets after it (use with first)."),
        ] = None,
        last: Annotated[
            int | None,
            strawberry.argument(
                description="Page size paging backward, 0 to 100 (not with first)."
            ),
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="A cursor: the tickets before it (use with last)."),
        ] = None,
    ) -> TicketConnection:
        f = filter or TicketFilter()
        order = order_by or TicketOrder()
        result = await ticket_reads.list_tickets(
            viewer=info.context.viewer,
            filter=ticket_reads.TicketFilter(
                statuses=f.status,
                category_slug=f.category_slug,
                urgent=f.urgent,
                created_after=f.created_after,
                created_before=f.created_before,
                search=f.search,
                assigned_to_me=f.assigned_to_me,
                owner_id=f.owner_id,
                sla_breached=f.sla_breached,
                unread=f.unread,
            ),
            order_by=order.field.value,
            descending=None if order.direction is None else order.direction is OrderDirection.DESC,
            page=PageArgs(first=first, after=after, last=last, before=before),
        )
        page = result.page
        wanted = selected(info, "edges", "node")
        people = [t.owner_id for _, t in page.items] if "owner" in wanted else []
        if "assignee" in wanted:
            people += [t.assignee_id for _, t in page.items if t.assignee_id is not None]
        if people:  # one statement, and the page's owner fields resolve without awaiting
            await info.context.loaders.prime_users(people)
        if wanted & {"unreadCount", "lastReadAt"}:  # the same for the viewer's read state
            await info.context.loaders.prime_read_states(t.pk for _, t in page.items)
        edges = [TicketEdge(cursor=cursor, node=mappers.ticket(t)) for cursor, t in page.items]
        return TicketConnection(edges=edges, page_info=page_info(page), counts=result)
