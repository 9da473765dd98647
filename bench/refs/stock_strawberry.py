"""What users would otherwise get: the stock Strawberry aiohttp view over 20 in-memory tickets.

No subclass and no custom JSON; `--caches` adds Strawberry's ParserCache and ValidationCache.
The schema answers both the flat query `{ ticketList { id number summary status urgent } }` and
the history page's own query (the same selection: `tickets(first:) { edges { node { number summary
status urgent createdAt category { slug name } owner { id name } } } }`) from plain objects.

    .venv/bin/python -m bench.refs.stock_strawberry --port 8002 [--caches]
"""

from __future__ import annotations

import argparse
import enum
from datetime import UTC, datetime, timedelta

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.enum
class TicketStatus(enum.Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_REPLY = "AWAITING_REPLY"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


@strawberry.enum
class Locale(enum.Enum):
    RU = "RU"
    EN = "EN"


@strawberry.type
class Category:
    slug: str
    name_ru: str
    name_en: str

    @strawberry.field
    def name(self, locale: Locale = Locale.RU) -> str:
        return self.name_en if locale is Locale.EN else self.name_ru


@strawberry.type
class User:
    id: strawberry.ID
    name: str


@strawberry.type
class Ticket:
    id: strawberry.ID
    number: int
    summary: str
    status: TicketStatus
    urgent: bool
    created_at: datetime
    category: Category
    owner: User


@strawberry.type
class TicketEdge:
    node: Ticket


@strawberry.type
class TicketConnection:
    edges: list[TicketEdge]


STATUSES = list(TicketStatus)
CATEGORY = Category(slug="app-help", name_ru="Помощь с приложением", name_en="App help")
OWNER = User(id=strawberry.ID("demo-customer-00000"), name="Анна Смирнова")
START = datetime(2026, 1, 1, tzinfo=UTC)
TICKETS = [
    Ticket(
        id=strawberry.ID(str(i)),
        number=i,
        summary=f"Ticket number {i}: the report page does not load",
        status=STATUSES[i % len(STATUSES)],
        urgent=i % 10 == 0,
        created_at=START + timedelta(hours=i),
        category=CATEGORY,
        owner=OWNER,
    )
    for i in range(1, 21)
]


@strawberry.type
class Query:
    @strawberry.field
    def ticket_list(self) -> list[Ticket]:
        return TICKETS

    @strawberry.field
    def tickets(self, first: int | None = 20) -> TicketConnection:
        return TicketConnection(edges=[TicketEdge(node=t) for t in TICKETS[: first or 20]])


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.refs.stock_strawberry")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--caches", action="store_true", help="ParserCache + ValidationCache")
    args = parser.parse_args(argv)
    extensions = [ParserCache, ValidationCache] if args.caches else []
    schema = strawberry.Schema(query=Query, extensions=extensions)
    app = web.Application()
    app.router.add_route("*", "/graphql", GraphQLView(schema=schema))
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
