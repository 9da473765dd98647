"""Scenario 1, the history page: throughput of one page of 20 tickets, side by side.

In one run, every server is started (pinned to core 0) and measured with wrk (-t1 -c32, on
core 1) one at a time, in rounds: each round measures every server once, so a reference and our
server are always measured minutes apart at most. The table gives each server's median over the
rounds, and our ratio to the stock reference as the median of the per-round ratios: on a shared
machine whose speed drifts by tens of percent within minutes, only such paired figures count.

- plain aiohttp returning 20 in-memory tickets as JSON (the ceiling, no GraphQL);
- the stock Strawberry aiohttp view over the same 20 tickets, without and with Strawberry's
  ParserCache + ValidationCache (what users would otherwise get);
- our server (`helpdesk serve`) on each backend, a fresh database migrated and seeded with
  `seed-demo` (--tickets, 100 customers), answering the customer history page (20 tickets with
  category and owner) for the demo customer with the most tickets.

Then, in-process (no HTTP timing), the SQL statements one history request sends for page sizes
10/50/100 on each backend. Non-2xx responses or socket errors from our server fail the run.

    .venv/bin/python -m bench.history_page [--seconds 5] [--rounds 5] [--tickets 10000]
        [--backends sqlite,postgres] [--pg-url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bench.common import (
    DEFAULT_PG,
    PYTHON,
    WrkResult,
    free_port,
    helpdesk_cli,
    helpdesk_server,
    machine,
    postgres_database,
    process,
    sqlite_database,
    table,
    wrk,
)
from models import db
from server import auth
from server.app import create_app
from server.config import DEV_JWT_SECRET, Settings
from server.demo import customer_id
from server.logs import configure as configure_logs

# What `helpdesk serve` verifies tokens with; the bench environment normally leaves it unset.
SECRET = os.environ.get("HELPDESK_JWT_SECRET", DEV_JWT_SECRET)
TARGET = "history page ≥ 2× stock Strawberry with the same selection"
PAGE = 20
PAGE_SIZES = (10, 50, 100)
CUSTOMERS = 100
FLAT_QUERY = "{ ticketList { id number summary status urgent } }"
HISTORY_QUERY = (
    "query History($first: Int) { tickets(first: $first) { edges { node {"
    " number summary status urgent createdAt category { slug name } owner { id name } } } } }"
)
BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
STOCK = "stock Strawberry, history page"
# (module and options, query): the flat query is the one of the reference figures (5 scalar
# fields); the history query is the page's own selection, which the target compares against.
REFERENCES: dict[str, tuple[list[str], str]] = {
    "plain aiohttp (20 tickets as JSON)": (["bench.refs.plain_aiohttp"], FLAT_QUERY),
    "stock Strawberry, 5 scalar fields": (["bench.refs.stock_strawberry"], FLAT_QUERY),
    "stock Strawberry + caches, 5 scalar fields": (
        ["bench.refs.stock_strawberry", "--caches"],
        FLAT_QUERY,
    ),
    STOCK: (["bench.refs.stock_strawberry"], HISTORY_QUERY),
    "stock Strawberry + caches, history page": (
        ["bench.refs.stock_strawberry", "--caches"],
        HISTORY_QUERY,
    ),
}


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass(frozen=True)
class Target:
    url: str
    payload: dict[str, Any]
    headers: dict[str, str]

    def measure(self, seconds: int) -> WrkResult:
        body = json.dumps(self.payload, separators=(",", ":")).encode()
        return wrk(self.url, body=body, headers=self.headers, seconds=seconds)


@contextlib.contextmanager
def reference(label: str, module: list[str], query: str) -> Iterator[Target]:
    """A reference server, started and checked: what to measure it with."""
    port = free_port()
    command = [PYTHON, "-m", *module, "--port", str(port)]
    with process(command, ready_url=f"http://127.0.0.1:{port}/healthz"):
        url = f"http://127.0.0.1:{port}/graphql"
        headers = {"Content-Type": "application/json"}
        payload = {"query": query, "variables": {"first": PAGE}}
        answer = post_json(url, payload, headers)
        data = answer.get("data") or {}
        items = data.get("ticketList") or data.get("tickets", {}).get("edges", [])
        if answer.get("errors") or len(items) != PAGE:
            raise SystemExit(f"{label}: unexpected answer {answer}")
        yield Target(url, payload, headers)


async def pick_customer(database_url: str, is_postgres: bool) -> tuple[str, int]:
    """customer_id(0) if it owns a full page, else the customer with the most tickets."""
    async with db.connected(database_url):
        connection = Tortoise.get_connection("default")
        if is_postgres:
            await connection.execute_script("VACUUM ANALYZE")
        rows = await connection.execute_query_dict(
            "SELECT owner_id, count(*) AS n FROM tickets GROUP BY owner_id ORDER BY n DESC"
        )
    counts = {row["owner_id"]: row["n"] for row in rows}
    first = customer_id(0)
    if counts.get(first, 0) >= PAGE:
        return first, counts[first]
    return rows[0]["owner_id"], rows[0]["n"]


def history_headers(customer: str) -> dict[str, str]:
    token = auth.encode(
        sub=customer, role="customer", name="Demo Customer", secret=SECRET, ttl_seconds=3600
    )
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def ours(database_url: str, customer: str) -> Iterator[Target]:
    """`helpdesk serve` on the database, checked: what to measure it with."""
    headers = history_headers(customer)
    payload = {"query": HISTORY_QUERY, "variables": {"first": PAGE}}
    with helpdesk_server(database_url) as (base, _):
        answer = post_json(f"{base}/graphql", payload, headers)
        edges = (answer.get("data") or {}).get("tickets", {}).get("edges", [])
        if answer.get("errors") or len(edges) != PAGE:
            raise SystemExit(f"helpdesk: expected {PAGE} edges and no errors, got {answer}")
        yield Target(f"{base}/graphql", payload, headers)


async def count_statements(database_url: str, customer: str) -> dict[int, int]:
    """Statements per history request for each page size, through the app without HTTP timing."""
    EXECUTOR_CACHE.clear()  # cached INSERTs are per connection name; the dialect changes
    headers = history_headers(customer)
    counts: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-files-") as files:
        settings = Settings(
            database_url=database_url, jwt_secret=SECRET, data_dir=files, rate_limit_per_minute=0
        )
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            for first in (PAGE, *PAGE_SIZES):  # the first request only warms up (known user)
                payload = {"query": HISTORY_QUERY, "variables": {"first": first}}
                with db.recording_statements() as counter:
                    response = await client.post("/graphql", json=payload, headers=headers)
                    answer = await response.json()
                edges = (answer.get("data") or {}).get("tickets", {}).get("edges", [])
                if response.status != 200 or answer.get("errors") or len(edges) != first:
                    raise SystemExit(f"first={first}: {response.status} {answer}")
                counts[first] = len(counter.statements)
        finally:
            await client.close()
    return {size: counts[size] for size in PAGE_SIZES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.history_page", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of every server")
    parser.add_argument("--tickets", type=int, default=10_000, help="demo tickets per backend")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        type=lambda s: [b.strip() for b in s.split(",") if b.strip()],
        help="comma-separated: sqlite, postgres",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (any database)")
    args = parser.parse_args(argv)
    configure_logs("WARNING")  # the in-process app logs like the server does, warnings only
    unknown = set(args.backends) - set(BACKEND_NAMES)
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    targets: dict[str, Target] = {}
    statements: dict[str, dict[int, int]] = {}
    mine: list[str] = []
    with contextlib.ExitStack() as stack:
        for label, (module, query) in REFERENCES.items():
            targets[label] = stack.enter_context(reference(label, module, query))
        for backend in args.backends:
            label = f"helpdesk ({BACKEND_NAMES[backend]})"
            database = sqlite_database() if backend == "sqlite" else postgres_database(args.pg_url)
            url = stack.enter_context(database)
            print(f"{label}: migrate, seed-demo --tickets {args.tickets} …", flush=True)
            helpdesk_cli("migrate", database_url=url)
            helpdesk_cli(
                "seed-demo",
                "--tickets",
                str(args.tickets),
                "--customers",
                str(CUSTOMERS),
                database_url=url,
            )
            customer, owned = asyncio.run(pick_customer(url, backend == "postgres"))
            print(f"{label}: as {customer} ({owned} tickets)", flush=True)
            statements[BACKEND_NAMES[backend]] = asyncio.run(count_statements(url, customer))
            targets[label] = stack.enter_context(ours(url, customer))
            mine.append(label)
        for target in targets.values():  # warm-up: imports, caches, connection pools
            target.measure(1)
        rounds: list[dict[str, WrkResult]] = []
        for number in range(1, args.rounds + 1):
            print(f"round {number}/{args.rounds}: {len(targets)} servers × {args.seconds} s …")
            rounds.append(
                {label: target.measure(args.seconds) for label, target in targets.items()}
            )

    def median_of(label: str) -> WrkResult:
        ordered = sorted((r[label] for r in rounds), key=lambda r: r.requests_per_second)
        return ordered[len(ordered) // 2]

    def ratio(label: str) -> float:
        return statistics.median(
            r[label].requests_per_second / r[STOCK].requests_per_second for r in rounds
        )

    def failures(label: str) -> str:
        non_2xx = sum(x[label].non_2xx for x in rounds)
        errors = sum(x[label].errors for x in rounds)
        return f"{non_2xx}" + (f" (+{errors} socket errors)" if errors else "")

    results = {label: median_of(label) for label in targets}
    rows = [
        [
            label,
            f"{r.requests_per_second:,.0f}",
            " / ".join(f"{x[label].requests_per_second:,.0f}" for x in rounds),
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            failures(label),
            f"{ratio(label):.2f}",
        ]
        for label, r in results.items()
    ]
    print()
    print(
        table(
            f"History page: {PAGE} tickets per request, wrk -t1 -c32, {args.rounds} rounds of "
            f"{args.seconds} s per server",
            [
                "server",
                "req/s (median)",
                "each round",
                "p50 ms",
                "p99 ms",
                "non-2xx",
                f"ratio to {STOCK}",
            ],
            rows,
        )
    )
    if statements:
        print(
            table(
                "SQL statements per history request",
                ["page size", *statements],
                [[size, *(s[size] for s in statements.values())] for size in PAGE_SIZES],
            )
        )
    print(machine())
    print(f"target: {TARGET}")

    failed = [label for label in mine if any(x[label].non_2xx or x[label].errors for x in rounds)]
    for label in failed:
        print(f"FAILED: {label} answered non-2xx responses or had socket errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
