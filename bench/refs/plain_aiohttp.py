"""The ceiling: plain aiohttp answering /graphql with 20 in-memory tickets, no GraphQL at all.

.venv/bin/python -m bench.refs.plain_aiohttp --port 8001
"""

from __future__ import annotations

import argparse

import orjson
from aiohttp import web

STATUSES = ["OPEN", "IN_PROGRESS", "AWAITING_REPLY", "CLOSED", "REJECTED"]
TICKETS = [
    {
        "id": str(i),
        "number": i,
        "summary": f"Ticket number {i}: the report page does not load",
        "status": STATUSES[i % len(STATUSES)],
        "urgent": i % 10 == 0,
    }
    for i in range(1, 21)
]


async def graphql(request: web.Request) -> web.Response:
    if request.method == "POST":
        await request.read()
    body = orjson.dumps({"data": {"ticketList": TICKETS}})
    return web.Response(body=body, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.refs.plain_aiohttp")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    app = web.Application()
    app.router.add_route("POST", "/graphql", graphql)
    app.router.add_route("GET", "/graphql", graphql)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
