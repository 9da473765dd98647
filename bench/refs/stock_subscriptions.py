"""Stock Strawberry subscriptions: one asyncio.Queue per subscriber, each event executed and
serialized per subscriber.

The stock aiohttp GraphQLView (graphql-transport-ws), a `ticketStatusChanged` async generator
reading its own queue, and `POST /publish` ({"ticketId": …, "toStatus": …}) putting one in-memory
event into every queue. No database, no auth (connection_init is acknowledged as is). Runs on
uvloop like our server unless `--loop asyncio`.

    .venv/bin/python -m bench.refs.stock_subscriptions --port 8003
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import itertools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL


@strawberry.enum
class TicketStatus(enum.Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_REPLY = "AWAITING_REPLY"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


@strawberry.type
class Ticket:
    id: strawberry.ID


@strawberry.type
class TicketEvent:
    id: strawberry.ID
    ticket: Ticket
    to_status: TicketStatus
    at: datetime


QUEUES: set[asyncio.Queue[TicketEvent]] = set()
EVENT_IDS = itertools.count(1)


@strawberry.type
class Query:
    @strawberry.field
    def subscribers(self) -> int:
        return len(QUEUES)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticket_status_changed(self) -> AsyncGenerator[TicketEvent, None]:
        queue: asyncio.Queue[TicketEvent] = asyncio.Queue()
        QUEUES.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            QUEUES.discard(queue)


async def publish(request: web.Request) -> web.Response:
    body = await request.json()
    event = TicketEvent(
        id=strawberry.ID(str(next(EVENT_IDS))),
        ticket=Ticket(id=strawberry.ID(str(body["ticketId"]))),
        to_status=TicketStatus(body.get("toStatus", "IN_PROGRESS")),
        at=datetime.now(UTC),
    )
    for queue in QUEUES:
        queue.put_nowait(event)
    return web.json_response({"id": event.id, "subscribers": len(QUEUES)})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.refs.stock_subscriptions")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="uvloop (default) is the loop our server runs on: the comparison is of the "
        "subscription model, not of the event loop",
    )
    args = parser.parse_args(argv)
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = web.Application()
    view = GraphQLView(schema=schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL])
    app.router.add_route("*", "/graphql", view)
    app.router.add_post("/publish", publish)
    app.router.add_get("/healthz", healthz)
    loop = None
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, loop=loop)


if __name__ == "__main__":
    main()
