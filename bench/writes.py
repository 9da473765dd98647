"""Writes with subscribers attached: createTicket and replyToTicket throughput on PostgreSQL.

One server process (core 0) on a fresh PostgreSQL database, broker `--broker` (memory:// by
default), with N agent connections (`--subscribers`) following `ticketEvents`: every write's event
goes to all of them (one shared execution, N sockets). wrk (core 1, with the clients) posts as one
customer: `createTicket` (a new ticket per request) then `replyToTicket` on one existing ticket of
that customer. Reported: wrk's req/s and latency, the events the server published (one per
successful write, from /metrics), what the subscribers received by the end of the run and once
deliveries stopped, event `at` (taken before the write's transaction) → arrival latency, and how
long after wrk ended the last delivery came. `--query` changes the subscription: without
`ticket { id }` no event needs a database query of its own in the shared execution.

    .venv/bin/python -m bench.writes --subscribers 1000 --seconds 10

`--rate R`: instead of wrk's throughput, this process posts `replyToTicket` at R writes/s for
`--seconds` (each request sent on schedule, at most `--connections` in flight), and does so for two
source trees in one run, one server after the other, each on a fresh database: `--before` (a git
revision of this repository, `main` by default, exported with `git archive`; `--before ''` to
skip) and this tree. Reported per tree: asked and written rate, deliveries expected, delivered,
lost, duplicated, event `at` → delivery p50/p99/max, the write's response time and server CPU per
write (the fan-out and the drain included).

    .venv/bin/python -m bench.writes --subscribers 1000 --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import (
    LOAD_CPU,
    PYTHON,
    ROOT,
    add_database_url_option,
    free_port,
    helpdesk_env,
    helpdesk_server,
    machine,
    percentile,
    pin_to_load_core,
    postgres_database,
    process,
    report_on_new_postgres,
    table,
    wrk,
)
from bench.fanout import CREATE, graphql, token
from bench.ws_clients import Clients, cpu_ticks, latency_cells

EVENTS = "subscription { ticketEvents { id kind ticket { id } at } }"
REPLY = """mutation($in: ReplyToTicketInput!) {
  replyToTicket(input: $in) { message { id } errors { code field message } } }"""
CUSTOMER = "bench-writer-customer"


async def published(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    found = re.search(r"^helpdesk_events_published(?:_total)? (\S+)$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError("no helpdesk_events_published in /metrics")
    return int(float(found.group(1)))


async def settle(
    clients: Clients, session: aiohttp.ClientSession, base: str, within: float
) -> tuple[int, int, float]:
    """Wait until requests still in flight when wrk stopped are done and deliveries stopped:
    (events published, messages received, monotonic time of the last arrival seen)."""
    deadline = time.monotonic() + within
    events = await published(session, base)
    received = (await clients.status())["received"]
    last = changed = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - changed < 2.0:
        await asyncio.sleep(0.2)
        fresh_events = await published(session, base)
        fresh_received = (await clients.status())["received"]
        if fresh_received != received:
            last = time.monotonic()
        if (fresh_events, fresh_received) != (events, received):
            changed = time.monotonic()
        events, received = fresh_events, fresh_received
    return events, received, last


def lost_cell(expected: int, received: int) -> str:
    if received > expected:
        return f"0 ({received - expected:,} more than expected)"
    return f"{expected - received:,}"


def agents_following(base: str, args: argparse.Namespace) -> Any:
    """`--subscribers` agent sockets on the server at `base`, following `--query`."""
    return Clients.start(
        [base.replace("http", "ws") + "/graphql"],
        args.subscribers,
        mint=f"agent:bench-agent:{args.agents}",
        query=args.query,
        engine=args.engine,
    )


async def new_ticket(
    session: aiohttp.ClientSession, base: str, customer: str, question: str
) -> str:
    """A new ticket of `customer`: its id."""
    variables = {"in": {"categorySlug": "app-help", "question": question}}
    created = await graphql(session, base, customer, CREATE, variables)
    return str(created["createTicket"]["ticket"]["id"])


async def scenario(args: argparse.Namespace, url: str) -> str:
    customer = token(CUSTOMER, "customer")
    headers = {"Authorization": f"Bearer {customer}", "Content-Type": "application/json"}
    notes: list[str] = []
    with helpdesk_server(url, args.broker) as (base, server):
        async with aiohttp.ClientSession() as session:
            ticket_id = await new_ticket(session, base, customer, "The ticket replies go to")
            bodies: dict[str, dict[str, Any]] = {
                "createTicket": {
                    "query": CREATE,
                    "variables": {"in": {"categorySlug": "app-help", "question": "Bench question"}},
                },
                "replyToTicket": {
                    "query": REPLY,
                    "variables": {"in": {"ticketId": ticket_id, "body": "Bench reply"}},
                },
            }
            for body in bodies.values():  # the bodies work before wrk repeats them blindly
                await graphql(session, base, customer, body["query"], body["variables"])

            async def reply(_: int) -> None:
                await graphql(session, base, customer, REPLY, bodies["replyToTicket"]["variables"])

            async with agents_following(base, args) as clients:
                connected = await clients.ready()
                rounds = await clients.warm_up(reply)
                print(
                    f"{args.subscribers} subscribers in {connected['seconds']} s, live after "
                    f"{rounds} warm-up event(s)",
                    flush=True,
                )
                await asyncio.sleep(1.0)
                phases: list[dict[str, Any]] = []
                for name, body in bodies.items():
                    events_before = await published(session, base)
                    received_before = (await clients.status())["received"]
                    cpu_before = cpu_ticks(server.pid)
                    print(
                        f"wrk {name}: {args.seconds} s, {args.connections} connections", flush=True
                    )
                    started = time.time()
                    result = await asyncio.to_thread(
                        wrk,
                        f"{base}/graphql",
                        body=orjson.dumps(body),
                        headers=headers,
                        seconds=args.seconds,
                        connections=args.connections,
                    )
                    ended = time.monotonic()
                    received_run = (await clients.status())["received"] - received_before
                    events, received, last = await settle(clients, session, base, args.drain)
                    phases.append(
                        {
                            "name": name,
                            "started": started,
                            "wrk": result,
                            "events": events - events_before,
                            "received_run": received_run,
                            "received": received - received_before,
                            "drain": last - ended,
                            "server_cpu": cpu_ticks(server.pid) - cpu_before,
                        }
                    )
                results = await clients.stop()
    rows = []
    for i, phase in enumerate(phases):
        until = phases[i + 1]["started"] if i + 1 < len(phases) else float("inf")
        in_phase = [
            e
            for e, stamp in results.stamps.items()
            if stamp and phase["started"] <= datetime.fromisoformat(stamp).timestamp() < until
        ]
        expected = phase["events"] * args.subscribers
        result = phase["wrk"]
        rows.append(
            [
                phase["name"],
                f"{result.requests_per_second:,.0f}",
                f"{result.p50_ms:.1f}",
                f"{result.p99_ms:.1f}",
                result.non_2xx + result.errors,
                f"{phase['events']:,}",
                f"{expected:,}",
                f"{phase['received_run']:,} ({phase['received_run'] / args.seconds:,.0f}/s)",
                f"{phase['received']:,}",
                lost_cell(expected, phase["received"]),
                results.duplicates_of(in_phase),
                *latency_cells(results.since_stamp_ms(in_phase)),
                f"{phase['drain']:.1f}",
                f"{phase['server_cpu'] * 1000 / max(phase['events'], 1):.2f}",
            ]
        )
    if results.duplicates or results.error_count or results.closed:
        notes.append(
            f"- duplicated deliveries {sum(results.duplicates.values())}, client errors "
            f"{results.error_count}: {results.errors[:3]}, sockets closed {results.closed}"
        )
    return "\n".join(
        [
            table(
                f"Writes with {args.subscribers:,} agent subscribers (`{args.query}`), "
                f"PostgreSQL, broker {args.broker}",
                [
                    "mutation",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "non-2xx + socket errors",
                    "events",
                    "deliveries expected",
                    "received during the run",
                    "received",
                    "lost",
                    "duplicated",
                    "event at → delivered p50 ms",
                    "p99 ms",
                    "max ms",
                    "drain s",
                    "server CPU ms / write",
                ],
                rows,
            ),
            f"{machine()}; drain: seconds after wrk ended until the last "
            f"delivery arrived; wrk -t1 -c{args.connections} -d{args.seconds}s as one "
            f"customer, on core {LOAD_CPU} with the clients; {args.agents} agent users share the "
            "sockets. "
            "Server CPU per write includes the fan-out of its event and the drain.",
            *notes,
        ]
    )


@contextlib.contextmanager
def source_tree(revision: str) -> Iterator[Path]:
    """This repository's files at `revision` (`git archive`), in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="helpdesk-before-") as folder:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", revision],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        with tempfile.TemporaryFile() as tar:
            tar.write(archive)
            tar.seek(0)
            with tarfile.open(fileobj=tar) as files:
                files.extractall(folder, filter="data")
        yield Path(folder)


def tree_command(tree: Path, *args: str) -> list[str]:
    """`helpdesk ARGS` served from `tree` by this virtualenv (-P: not the working directory's)."""
    return [PYTHON, "-P", "-m", "server.cli", *args]


def tree_env(tree: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(tree)}


@contextlib.contextmanager
def tree_server(
    tree: Path, database_url: str, broker: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`helpdesk serve` from `tree` on a free port, pinned like `helpdesk_server`."""
    subprocess.run(
        tree_command(tree, "migrate"),
        env={**os.environ, **tree_env(tree), "HELPDESK_DATABASE_URL": database_url},
        cwd=tree,
        check=True,
        capture_output=True,
    )
    port = free_port()
    env = {**helpdesk_env(port, database_url, broker), **tree_env(tree)}
    with process(
        tree_command(tree, "serve"), env=env, ready_url=f"http://127.0.0.1:{port}/healthz"
    ) as child:
        yield f"http://127.0.0.1:{port}", child


async def paced_writes(
    session: aiohttp.ClientSession,
    base: str,
    customer: str,
    replies: list[dict[str, Any]],
    rate: float,
    seconds: float,
    in_flight: int,
) -> dict[str, Any]:
    """`replyToTicket` at `rate` per second, each sent on schedule (at most `in_flight` at once),
    round the tickets of `replies` (one ticket's writes would queue on its row lock)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []
    failed = 0
    errors: list[str] = []

    async def one(variables: dict[str, Any]) -> None:
        nonlocal failed
        async with gate:
            sent = loop.time()
            try:
                data = await graphql(session, base, customer, REPLY, variables)
                if data["replyToTicket"]["errors"]:
                    failed += 1
                    return
            except Exception as error:  # counted; the run goes on
                failed += 1
                if len(errors) < 3:
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                return
            latencies.append((loop.time() - sent) * 1000)

    count = round(rate * seconds)
    started = loop.time()
    tasks = []
    for i in range(count):
        delay = started + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(replies[i % len(replies)])))
    await asyncio.gather(*tasks)
    return {
        "asked": count,
        "written": len(latencies),
        "failed": failed,
        "errors": errors,
        "seconds": loop.time() - started,
        "latencies": latencies,
    }


async def paced_run(
    args: argparse.Namespace, label: str, base: str, server: subprocess.Popen[bytes]
) -> dict[str, Any]:
    """One server: N subscribers, then writes at `--rate`."""
    customer = token(CUSTOMER, "customer")
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.connections)
    ) as session:
        replies = []  # one body per ticket: the writes go round them
        for _ in range(args.tickets):
            ticket_id = await new_ticket(session, base, customer, "The replies go to")
            replies.append({"in": {"ticketId": ticket_id, "body": "Bench reply"}})

        async def reply(_: int) -> None:
            await graphql(session, base, customer, REPLY, replies[0])

        async with agents_following(base, args) as clients:
            await clients.ready()
            rounds = await clients.warm_up(reply)
            print(f"{label}: {args.subscribers} subscribers live after {rounds} event(s)")
            await asyncio.sleep(1.0)
            events_before = await published(session, base)
            received_before = (await clients.status())["received"]
            cpu_before = cpu_ticks(server.pid)
            started = time.time()
            writes = await paced_writes(
                session, base, customer, replies, args.rate, args.seconds, args.connections
            )
            events, received, _ = await settle(clients, session, base, args.drain)
            server_cpu = cpu_ticks(server.pid) - cpu_before
            results = await clients.stop()
    in_run = [
        e
        for e, stamp in results.stamps.items()
        if stamp and datetime.fromisoformat(stamp).timestamp() >= started
    ]
    return {
        "label": label,
        "writes": writes,
        "events": events - events_before,
        "received": received - received_before,
        "duplicated": results.duplicates_of(in_run),
        "latencies": results.since_stamp_ms(in_run),
        "server_cpu": server_cpu,
        "client_cpu": results.cpu_seconds,
        "client_received": results.received,
    }


def paced_row(run: dict[str, Any], args: argparse.Namespace) -> list[object]:
    writes = run["writes"]
    expected = run["events"] * args.subscribers
    responses = writes["latencies"]
    return [
        run["label"],
        f"{args.rate:g}/s × {args.seconds} s",
        f"{writes['written'] / writes['seconds']:,.0f}/s",
        writes["failed"],
        f"{run['events']:,}",
        f"{expected:,}",
        f"{run['received']:,}",
        lost_cell(expected, run["received"]),
        run["duplicated"],
        *latency_cells(run["latencies"]),
        f"{percentile(responses, 0.5):.1f} / {percentile(responses, 0.99):.1f}",
        f"{run['server_cpu'] * 1000 / max(run['events'], 1):.2f}",
        f"{run['client_cpu'] * 1e6 / max(run['client_received'], 1):.1f}",
    ]


def paced_report(args: argparse.Namespace) -> str:
    pin_to_load_core()
    runs = []
    with contextlib.ExitStack() as stack:
        trees: list[tuple[str, Path]] = []
        if args.before:
            trees.append((f"before ({args.before})", stack.enter_context(source_tree(args.before))))
        trees.append(("after (this tree)", ROOT))
        for label, tree in trees:
            with (
                postgres_database(args.database_url) as url,
                tree_server(tree, f"{url}?maxsize={args.pool}", args.broker) as (base, server),
            ):
                runs.append(asyncio.run(paced_run(args, label, base, server)))
    return "\n".join(
        [
            table(
                f"{args.rate:g} replyToTicket/s with {args.subscribers:,} agent subscribers "
                f"(`{args.query}`), PostgreSQL, broker {args.broker}",
                [
                    "server",
                    "asked",
                    "written",
                    "failed writes",
                    "events",
                    "deliveries expected",
                    "delivered",
                    "lost",
                    "duplicated",
                    "write → delivery p50 ms",
                    "p99 ms",
                    "max ms",
                    "write response p50 / p99 ms",
                    "server CPU ms / write",
                    "client CPU µs / message",
                ],
                [paced_row(run, args) for run in runs],
            ),
            f"{machine()}; writes paced by the bench (at most {args.connections} in flight, "
            f"round {args.tickets} tickets of one customer), "
            f"on core {LOAD_CPU} with the clients; {args.agents} agent users share the sockets. "
            "Write → delivery: the event's `at` (taken before the write's transaction) to its "
            "arrival at each subscriber. Server CPU per write includes the fan-out of its event "
            "and the drain. Written: writes answered without error per second, from the first "
            "sent to the last answered.",
            *(
                f"- {run['label']}: {run['writes']['failed']} writes failed: "
                f"{run['writes']['errors']}"
                for run in runs
                if run["writes"]["failed"]
            ),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.writes", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50, help="distinct agent users")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per mutation")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for delivery")
    parser.add_argument("--query", default=EVENTS, help="the subscription (needs id and at)")
    parser.add_argument("--broker", default="memory://", help="memory:// or redis://…")
    parser.add_argument("--engine", choices=("raw", "aiohttp"), default="raw", help="client")
    parser.add_argument(
        "--rate", type=float, default=None, help="writes/s paced by the bench instead of wrk"
    )
    parser.add_argument(
        "--tickets", type=int, default=50, help="with --rate: tickets the replies go round"
    )
    parser.add_argument(
        "--pool", type=int, default=20, help="with --rate: the server's database connections"
    )
    parser.add_argument(
        "--before", default="main", help="with --rate: the git revision to compare with ('': none)"
    )
    add_database_url_option(parser)
    args = parser.parse_args(argv)
    if args.rate is not None:
        print(paced_report(args))
        return
    report_on_new_postgres(args.database_url, lambda url: scenario(args, url))


if __name__ == "__main__":
    main()
