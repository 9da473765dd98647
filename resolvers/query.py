"""Root query fields."""

from __future__ import annotations

import strawberry

from resolvers import mappers
from resolvers.context import Info
from schema.enums import OrderDirection
from schema.inputs import TicketFilter, TicketOrder
from schema.types import Category, PageInfo, Ticket, TicketConnection, TicketEdge, User
from services import tickets
from services.pagination import PageArgs
from services.viewer import require_viewer


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User:
        viewer = require_viewer(info.context.viewer)
        return await info.context.loaders.users.load(viewer.id)

    @strawberry.field(description="Sections of the Help page with their question types. Public.")
    async def categories(self, info: Info) -> list[Category]:
        return await info.context.loaders.category_roots()

    @strawberry.field(description="A ticket by id; null when missing or not visible to the viewer.")
    async def ticket(self, info: Info, id: strawberry.ID) -> Ticket | None:
        ticket_id = mappers.parse_id(id)
        require_viewer(info.context.viewer)
        if ticket_id is None:
            return None
        found = await tickets.get_ticket(viewer=info.context.viewer, ticket_id=ticket_id)
        return mappers.ticket(found) if found else None

    @strawberry.field(
        description="The ticket history, newest first by default. Customers get only their own."
    )
    async def tickets(
        self,
        info: Info,
        filter: TicketFilter | None = None,
        order_by: TicketOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> TicketConnection:
        f = filter or TicketFilter()
        order = order_by or TicketOrder()
        result = await tickets.list_tickets(
            viewer=info.context.viewer,
            filter=tickets.TicketFilter(
                statuses=f.status,
                category_slug=f.category_slug,
                urgent=f.urgent,
                created_after=f.created_after,
                created_before=f.created_before,
                search=f.search,
                assigned_to_me=f.assigned_to_me,
                owner_id=f.owner_id,
            ),
            order_by=order.field.value,
            descending=order.direction is OrderDirection.DESC,
            page=PageArgs(first=first, after=after, last=last, before=before),
        )
        page = result.page
        edges = [TicketEdge(cursor=cursor, node=mappers.ticket(t)) for cursor, t in page.items]
        return TicketConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            counts=result,
        )
