"""How the ticket history behaves as it grows: latency of typical queries at several sizes.

For each size: a fresh PostgreSQL database of its own (dropped afterwards unless --keep),
`migrate`, `seed_demo`, VACUUM ANALYZE, then every query through
`services.ticket_reads.list_tickets` (the resolvers' path, without HTTP) as an agent and as the
customer with the most tickets, a few warm-up runs and then --repeat timed runs. "page" is one
page of 20; "+ counts" also computes `totalCount`/`countsByStatus` as the history screen does.

    .venv/bin/python -m bench.history --sizes 10000,1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise

from models import Role, TicketStatus, db
from server.demo import agent_id, seed_demo
from services.pagination import PageArgs, encode_cursor
from services.ticket_reads import TicketFilter, list_tickets
from services.viewer import Viewer

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SEARCH_WORD = "ТАРИФИКАЦИЯ"  # Cyrillic, any case; in a few percent of the tickets
PAGE = 20


@dataclass
class Timing:
    rows: int = 0
    samples: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


@dataclass
class SizeResult:
    size: int
    seed_seconds: float
    timings: dict[str, Timing]
    customer_tickets: int


Query = Callable[[], Awaitable[int]]


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))


async def measure_size(base_url: str, size: int, args: argparse.Namespace) -> SizeResult:
    name = f"helpdesk_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}_{size}"
    admin = await _admin(base_url)
    url = _with_database(base_url, name)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        print(f"[{size}] database {name}", flush=True)
        await db.migrate(url)
        async with db.connected(url):
            started = time.perf_counter()
            await seed_demo(tickets=size, customers=args.customers, agents=args.agents)
            seed_seconds = time.perf_counter() - started
            print(f"[{size}] seeded in {seed_seconds:.1f} s", flush=True)
            connection = Tortoise.get_connection("default")
            await connection.execute_script("VACUUM ANALYZE")
            timings, customer_tickets = await _run_queries(size, args)
        return SizeResult(size, seed_seconds, timings, customer_tickets)
    finally:
        await Tortoise.close_connections()
        if args.keep:
            print(f"[{size}] kept database {name}", flush=True)
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _run_queries(size: int, args: argparse.Namespace) -> tuple[dict[str, Timing], int]:
    connection = Tortoise.get_connection("default")
    rows = await connection.execute_query_dict(
        "SELECT owner_id, count(*) AS n FROM tickets GROUP BY owner_id ORDER BY n DESC LIMIT 1"
    )
    customer = Viewer(id=rows[0]["owner_id"], name="Customer", role=Role.CUSTOMER)
    agent = Viewer(id=agent_id(0), name="Agent", role=Role.AGENT)

    queries: dict[str, Query] = {}
    for who, viewer in (("agent", agent), ("customer", customer)):
        deep = await _deep_cursor(viewer, args.deep)
        filters = {
            "first page": TicketFilter(),
            "status+category": TicketFilter(
                statuses=[TicketStatus.CLOSED], category_slug="documents-finance"
            ),
            f"search {SEARCH_WORD.lower()!r}": TicketFilter(search=SEARCH_WORD),
            "urgent": TicketFilter(urgent=True),
        }
        for label, f in filters.items():
            queries[f"{who}: {label}, page"] = _page(viewer, f)
            queries[f"{who}: {label}, page + counts"] = _page(viewer, f, counts=True)
        queries[f"{who}: deep page ({args.deep:.0%} down)"] = _page(
            viewer, TicketFilter(), after=deep
        )
        queries[f"{who}: walk {args.walk} pages"] = _walk(viewer, args.walk)

    timings: dict[str, Timing] = {}
    for label, query in queries.items():
        timing = Timing()
        for _ in range(args.warmup):
            timing.rows = await query()
        for _ in range(args.repeat):
            started = time.perf_counter()
            await query()
            timing.samples.append(time.perf_counter() - started)
        timings[label] = timing
        print(
            f"[{size}] {label}: p50 {timing.p(0.5):.1f} ms, p95 {timing.p(0.95):.1f} ms,"
            f" rows {timing.rows}",
            flush=True,
        )
    customer_tickets = rows[0]["n"]
    return timings, customer_tickets


def _page(
    viewer: Viewer, f: TicketFilter, *, counts: bool = False, after: str | None = None
) -> Query:
    async def run() -> int:
        result = await list_tickets(viewer=viewer, filter=f, page=PageArgs(first=PAGE, after=after))
        if counts:
            # Rows: the total for the whole filter, as shown next to the list.
            return await result.total_count()
        return len(result.page.items)

    return run


def _walk(viewer: Viewer, pages: int) -> Query:
    """Follow endCursor page after page, as a user scrolling the history."""

    async def run() -> int:
        after: str | None = None
        seen = 0
        for _ in range(pages):
            result = await list_tickets(
                viewer=viewer, filter=TicketFilter(), page=PageArgs(first=PAGE, after=after)
            )
            seen += len(result.page.items)
            if not result.page.has_next_page:
                break
            after = result.page.items[-1][0]
        return seen

    return run


async def _deep_cursor(viewer: Viewer, depth: float) -> str | None:
    """The cursor of the ticket `depth` of the way down the viewer's history (newest first)."""
    connection = Tortoise.get_connection("default")
    where, values = (
        ("", []) if viewer.role is not Role.CUSTOMER else ("WHERE owner_id = $1", [viewer.id])
    )
    total = (
        await connection.execute_query_dict(f"SELECT count(*) AS n FROM tickets {where}", values)
    )[0]["n"]
    offset = int(total * depth)
    rows = await connection.execute_query_dict(
        f"SELECT id, created_at FROM tickets {where} ORDER BY created_at DESC, id DESC"
        f" OFFSET {offset} LIMIT 1",
        values,
    )
    return encode_cursor(rows[0]["created_at"], rows[0]["id"]) if rows else None


def _cell(result: SizeResult, label: str) -> str:
    timing = result.timings[label]
    return f"{timing.p(0.5):.1f} / {timing.p(0.95):.1f} ({timing.rows})"


def report(results: list[SizeResult], args: argparse.Namespace) -> str:
    sizes = [f"{r.size:,} p50 / p95 ms (rows)" for r in results]
    header = ["query", *sizes] + (["ratio p50"] if len(results) > 1 else [])
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}, {args.repeat} runs after {args.warmup} warm-up,"
        f" page of {PAGE}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for label in results[0].timings:
        cells = [_cell(r, label) for r in results]
        if len(results) > 1:
            first, last = results[0].timings[label].p(0.5), results[-1].timings[label].p(0.5)
            cells.append(f"{last / first:.1f}×" if first else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| size | seeding | rows/s | top customer's tickets |", "|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.seed_seconds:.1f} s | {r.size / r.seed_seconds:,.0f} |"
            f" {r.customer_tickets:,} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    results = [await measure_size(args.database_url, size, args) for size in args.sizes]
    print()
    print(report(results, args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.history", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="10000,1000000",
        type=lambda s: [int(x.replace("_", "")) for x in s.split(",")],
        help="comma-separated ticket counts (default 10000,1000000)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HELPDESK_BENCH_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL server to create the databases on (any database name)",
    )
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--agents", type=int, default=30)
    parser.add_argument("--deep", type=float, default=0.9, help="depth of the deep page, 0..1")
    parser.add_argument("--walk", type=int, default=10, help="pages followed by cursor")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
