"""Scenario 1, the history page: throughput of one page of 20 tickets, side by side.

In one run, each server alone on core 0 with wrk (-t1 -c32) on core 1:

- plain aiohttp returning 20 in-memory tickets as JSON (the ceiling, no GraphQL);
- the stock Strawberry aiohttp view over the same 20 tickets, without and with Strawberry's
  ParserCache + ValidationCache (what users would otherwise get);
- our server (`helpdesk serve`) on each backend, a fresh database migrated and seeded with
  `seed-demo` (--tickets, 100 customers), answering the customer history page (20 tickets with
  category and owner) for the demo customer with the most tickets.

Then, in-process (no HTTP timing), the SQL statements one history request sends for page sizes
10/50/100 on each backend. Non-2xx responses or socket errors from our server fail the run.

    .venv/bin/python -m bench.history_page [--seconds 10] [--tickets 10000]
        [--backends sqlite,postgres] [--pg-url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bench.common import (
    DEFAULT_PG,
    PYTHON,
    ROOT,
    WrkResult,
    free_port,
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
from server.logs import configure as configure_logs
from services.demo import customer_id

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
        return json.loads(response.read())  # type: ignore[no-any-return]


def measure(url: str, payload: dict[str, Any], headers: dict[str, str], seconds: int) -> WrkResult:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return wrk(url, body=body, headers=headers, seconds=seconds)


def run_reference(label: str, module: list[str], query: str, seconds: int) -> WrkResult:
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
        print(f"measuring {label} …", flush=True)
        return measure(url, payload, headers, seconds)


def helpdesk(*args: str, database_url: str) -> None:
    command = [str(ROOT / ".venv" / "bin" / "helpdesk"), *args]
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url}
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)


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


def run_helpdesk(database_url: str, customer: str, seconds: int) -> WrkResult:
    headers = history_headers(customer)
    payload = {"query": HISTORY_QUERY, "variables": {"first": PAGE}}
    with helpdesk_server(database_url) as (base, _):
        answer = post_json(f"{base}/graphql", payload, headers)
        edges = (answer.get("data") or {}).get("tickets", {}).get("edges", [])
        if answer.get("errors") or len(edges) != PAGE:
            raise SystemExit(f"helpdesk: expected {PAGE} edges and no errors, got {answer}")
        return measure(f"{base}/graphql", payload, headers, seconds)


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
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per server")
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

    results: dict[str, WrkResult] = {}
    for label, (module, query) in REFERENCES.items():
        results[label] = run_reference(label, module, query, args.seconds)

    statements: dict[str, dict[int, int]] = {}
    ours: list[str] = []
    for backend in args.backends:
        label = f"helpdesk ({BACKEND_NAMES[backend]})"
        database = sqlite_database() if backend == "sqlite" else postgres_database(args.pg_url)
        with database as url:
            print(f"{label}: migrate, seed-demo --tickets {args.tickets} …", flush=True)
            helpdesk("migrate", database_url=url)
            helpdesk(
                "seed-demo",
                "--tickets",
                str(args.tickets),
                "--customers",
                str(CUSTOMERS),
                database_url=url,
            )
            customer, owned = asyncio.run(pick_customer(url, backend == "postgres"))
            print(f"{label}: as {customer} ({owned} tickets); measuring …", flush=True)
            results[label] = run_helpdesk(url, customer, args.seconds)
            statements[BACKEND_NAMES[backend]] = asyncio.run(count_statements(url, customer))
            ours.append(label)

    stock = results[STOCK].requests_per_second
    rows = [
        [
            label,
            f"{r.requests_per_second:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.non_2xx}" + (f" (+{r.errors} socket errors)" if r.errors else ""),
            f"{r.requests_per_second / stock:.2f}",
        ]
        for label, r in results.items()
    ]
    print()
    print(
        table(
            f"History page: {PAGE} tickets per request, wrk -t1 -c32 for {args.seconds} s",
            ["server", "req/s", "p50 ms", "p99 ms", "non-2xx", f"ratio to {STOCK}"],
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

    failed = [label for label in ours if results[label].non_2xx or results[label].errors]
    for label in failed:
        r = results[label]
        print(
            f"FAILED: {label} answered {r.non_2xx} non-2xx, {r.errors} socket errors",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
