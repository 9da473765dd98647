"""The history page with `unreadCount` and `lastReadAt` selected next to without them, side by side.

The harness of `bench.history_page`: on each backend a fresh database migrated and seeded with
`seed-demo` (--tickets, 100 customers). Each open ticket of the first page of the demo customer
with the most tickets gets a conversation (two replies by support, an internal note, one answer
by the customer), and the customer marks every other ticket of the page read up to its first
event: half the page has a mark, half never had one, and support's replies are unread on both.

One `helpdesk serve` (core 0) is measured with wrk (-t1 -c32, core 1) on both selections,
alternating within each round; the ratio is the median of the per-round ratios, so the drift of
a shared machine cancels out. Then, in-process, the SQL statements one request sends for page
sizes 10/50/100 with each selection.

    .venv/bin/python -m bench.read_state [--seconds 5] [--rounds 5] [--tickets 10000]
        [--backends sqlite,postgres] [--pg-url postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bench.common import (
    DEFAULT_PG,
    WrkResult,
    helpdesk_cli,
    helpdesk_server,
    machine,
    postgres_database,
    sqlite_database,
    table,
)
from bench.history_page import (
    BACKEND_NAMES,
    CUSTOMERS,
    HISTORY_QUERY,
    PAGE,
    PAGE_SIZES,
    SECRET,
    Target,
    history_headers,
    pick_customer,
    post_json,
)
from models import db
from server import auth
from server.app import create_app
from server.config import Settings
from server.logs import configure as configure_logs

READ_QUERY = HISTORY_QUERY.replace("owner { id name }", "owner { id name } unreadCount lastReadAt")
WITHOUT, WITH = "history page", "history page + unreadCount lastReadAt"
SELECTIONS = {WITHOUT: HISTORY_QUERY, WITH: READ_QUERY}
REPLY = "mutation($i: ReplyToTicketInput!) { replyToTicket(input: $i) { errors { code } } }"
PAGE_IDS = "query($first: Int) { tickets(first: $first) { edges { node { id } } } }"
FIRST_EVENT = "query($id: ID!) { ticket(id: $id) { events(first: 1) { id } } }"
MARK = "mutation($i: MarkTicketReadInput!) { markTicketRead(input: $i) { errors { code } } }"


def converse(base: str, customer: str) -> None:
    """Support answers every ticket of the first page twice and notes once; the customer once."""
    headers = history_headers(customer)
    agent = {
        **headers,
        "Authorization": "Bearer "
        + auth.encode(
            sub="bench-agent", role="agent", name="Agent", secret=SECRET, ttl_seconds=3600
        ),
    }
    answer = post_json(
        f"{base}/graphql", {"query": PAGE_IDS, "variables": {"first": PAGE}}, headers
    )
    for edge in answer["data"]["tickets"]["edges"]:
        ticket_id = edge["node"]["id"]
        for who, internal in ((agent, False), (agent, True), (headers, False), (agent, False)):
            values = {"ticketId": ticket_id, "body": "About that…", "internal": internal}
            if who is headers:
                del values["internal"]
            done = post_json(f"{base}/graphql", {"query": REPLY, "variables": {"i": values}}, who)
            errors = [] if done.get("errors") else done["data"]["replyToTicket"]["errors"]
            if errors == [{"code": "TICKET_FINAL"}]:
                break  # a closed ticket keeps the conversation it had
            if done.get("errors") or errors:
                raise SystemExit(f"replying failed: {done}")


def mark_half_the_page(base: str, customer: str) -> int:
    """Every other ticket of the first page marked read up to its first event; how many."""
    headers = history_headers(customer)
    answer = post_json(
        f"{base}/graphql", {"query": PAGE_IDS, "variables": {"first": PAGE}}, headers
    )
    ids = [e["node"]["id"] for e in answer["data"]["tickets"]["edges"]]
    for ticket_id in ids[::2]:
        found = post_json(
            f"{base}/graphql", {"query": FIRST_EVENT, "variables": {"id": ticket_id}}, headers
        )
        first = found["data"]["ticket"]["events"][0]["id"]
        values = {"ticketId": ticket_id, "upToEventId": first}
        done = post_json(f"{base}/graphql", {"query": MARK, "variables": {"i": values}}, headers)
        if done.get("errors") or done["data"]["markTicketRead"]["errors"]:
            raise SystemExit(f"marking read failed: {done}")
    return len(ids[::2])


@contextlib.contextmanager
def server(database_url: str, customer: str) -> Iterator[dict[str, Target]]:
    headers = history_headers(customer)
    with helpdesk_server(database_url) as (base, _):
        converse(base, customer)
        marked = mark_half_the_page(base, customer)
        print(f"  marked {marked} of the page's tickets read", flush=True)
        targets = {}
        for label, query in SELECTIONS.items():
            payload = {"query": query, "variables": {"first": PAGE}}
            answer = post_json(f"{base}/graphql", payload, headers)
            edges = (answer.get("data") or {}).get("tickets", {}).get("edges", [])
            if answer.get("errors") or len(edges) != PAGE:
                raise SystemExit(f"{label}: expected {PAGE} edges and no errors, got {answer}")
            targets[label] = Target(f"{base}/graphql", payload, headers)
        yield targets


async def count_statements(database_url: str, customer: str) -> dict[tuple[str, int], int]:
    """Statements per request for each selection and page size, in-process."""
    EXECUTOR_CACHE.clear()
    headers = history_headers(customer)
    counts: dict[tuple[str, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-files-") as files:
        settings = Settings(
            database_url=database_url, jwt_secret=SECRET, data_dir=files, rate_limit_per_minute=0
        )
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            for label, query in SELECTIONS.items():
                for first in (PAGE, *PAGE_SIZES):  # the first request warms up
                    payload: dict[str, Any] = {"query": query, "variables": {"first": first}}
                    with db.recording_statements() as counter:
                        response = await client.post("/graphql", json=payload, headers=headers)
                        answer = await response.json()
                    if response.status != 200 or answer.get("errors"):
                        raise SystemExit(f"{label} first={first}: {answer}")
                    counts[label, first] = len(counter.statements)
        finally:
            await client.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.read_state", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each selection")
    parser.add_argument("--tickets", type=int, default=10_000, help="demo tickets per backend")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        type=lambda s: [b.strip() for b in s.split(",") if b.strip()],
        help="comma-separated: sqlite, postgres",
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (any database)")
    args = parser.parse_args(argv)
    configure_logs("WARNING")
    unknown = set(args.backends) - set(BACKEND_NAMES)
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    rows: list[list[object]] = []
    statement_rows: list[list[object]] = []
    failed = False
    for backend in args.backends:
        name = BACKEND_NAMES[backend]
        with contextlib.ExitStack() as stack:
            database = sqlite_database() if backend == "sqlite" else postgres_database(args.pg_url)
            url = stack.enter_context(database)
            print(f"{name}: migrate, seed-demo --tickets {args.tickets} …", flush=True)
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
            print(f"{name}: as {customer} ({owned} tickets)", flush=True)
            targets = stack.enter_context(server(url, customer))
            counts = asyncio.run(count_statements(url, customer))
            for target in targets.values():
                target.measure(1)  # warm-up
            rounds: list[dict[str, WrkResult]] = []
            for number in range(1, args.rounds + 1):
                print(f"{name}: round {number}/{args.rounds} …", flush=True)
                rounds.append({label: t.measure(args.seconds) for label, t in targets.items()})
        for label in SELECTIONS:
            ordered = sorted((r[label] for r in rounds), key=lambda r: r.requests_per_second)
            median = ordered[len(ordered) // 2]
            ratio = statistics.median(
                r[label].requests_per_second / r[WITHOUT].requests_per_second for r in rounds
            )
            bad = sum(r[label].non_2xx + r[label].errors for r in rounds)
            failed = failed or bad > 0
            rows.append(
                [
                    name,
                    label,
                    f"{median.requests_per_second:,.0f}",
                    " / ".join(f"{r[label].requests_per_second:,.0f}" for r in rounds),
                    f"{median.p50_ms:.2f}",
                    f"{median.p99_ms:.2f}",
                    bad,
                    f"{ratio:.2f}",
                ]
            )
        for size in PAGE_SIZES:
            statement_rows.append([name, size, counts[WITHOUT, size], counts[WITH, size]])
    print()
    print(
        table(
            f"History page with and without read state: {PAGE} tickets per request, wrk -t1 "
            f"-c32, {args.rounds} rounds of {args.seconds} s, alternating",
            [
                "backend",
                "selection",
                "req/s (median)",
                "each round",
                "p50 ms",
                "p99 ms",
                "failures",
                "ratio to without",
            ],
            rows,
        )
    )
    print(
        table(
            "SQL statements per request",
            ["backend", "page size", WITHOUT, WITH],
            statement_rows,
        )
    )
    print(machine())
    if failed:
        print("FAILED: non-2xx responses or socket errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
