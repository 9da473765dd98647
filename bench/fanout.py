"""Fan-out on one server process: N idle staff subscribers, then E status changes delivered to all.

For each size N and each server (ours: `helpdesk serve` on a fresh SQLite database with the memory
broker; stock: `bench.refs.stock_subscriptions`, one asyncio.Queue per subscriber): RSS before the
clients connect and after all N subscriptions are live and idle for `--idle` s (KB per idle
subscriber), then E events, one at a time: the next is sent once every subscriber got the previous
one (or `--event-timeout` passed) and at least `--interval` s after it. Latency is publish→deliver:
arrival (`time.time()` in `bench.ws_clients`) minus the time just before the mutation was sent.

Ours: every event is `takeTicket` (OPEN → IN_PROGRESS) of a fresh ticket created beforehand by a
customer, one ticket per event, so an arrival is matched to its send by ticket id. The N connections
belong to `--agents` agent users (one agent, several tabs): all staff share one execution
(server/fanout.py). Stock: `POST /publish` of an in-memory event; it runs on uvloop like ours
(`--stock-loop asyncio` for the plain loop). The server is on core 0; the clients
(`bench.ws_clients`, raw engine) and this process, which publishes, on core 1.

    .venv/bin/python -m bench.fanout --sizes 1000,10000 --events 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import (
    PYTHON,
    SERVER_CPU,
    free_port,
    helpdesk_cli,
    helpdesk_server,
    machine,
    percentile,
    pin_to_load_core,
    process,
    rss_kb,
    sqlite_database,
    table,
)
from bench.ws_clients import STATUS_CHANGED, Clients, cpu_ticks, latency_cells

WARM_UP_ROUNDS = 10
TARGETS = {1_000: 30.0, 10_000: 250.0}  # p99 ms
TARGET_KB = 20.0  # per idle subscriber, at 10k


def token(sub: str, role: str) -> str:
    from server.auth import encode
    from server.config import DEV_JWT_SECRET

    return encode(sub=sub, role=role, name=sub, secret=DEV_JWT_SECRET, ttl_seconds=3600)


async def graphql(
    session: aiohttp.ClientSession,
    base: str,
    bearer: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation; raises on a top-level error or a payload's `errors`."""
    async with session.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {bearer}"},
    ) as response:
        body = await response.json(content_type=None)
    if response.status != 200 or body.get("errors"):
        raise RuntimeError(f"{query.split('(')[0]} failed ({response.status}): {body}")
    for payload in (body.get("data") or {}).values():
        if isinstance(payload, dict) and payload.get("errors"):
            raise RuntimeError(f"{query.split('(')[0]} refused: {payload['errors']}")
    return body["data"]


CREATE = """mutation($in: CreateTicketInput!) {
  createTicket(input: $in) { ticket { id } errors { code field message } } }"""
TAKE = """mutation($id: ID!) {
  takeTicket(input: {ticketId: $id}) { ticket { id status } errors { code field message } } }"""


async def create_tickets(
    session: aiohttp.ClientSession, base: str, count: int, owner: str = "bench-customer"
) -> list[str]:
    customer = token(owner, "customer")
    ids = []
    for i in range(count):
        variables = {"in": {"categorySlug": "app-help", "question": f"Bench ticket {i}"}}
        data = await graphql(session, base, customer, CREATE, variables)
        ids.append(data["createTicket"]["ticket"]["id"])
    return ids


@dataclass
class Target:
    label: str
    ws_url: str
    pid: int
    publish: Callable[[int], Awaitable[None]]  # publish event k (a status change of ticket k)
    ticket_of: Callable[[int], str]


@contextlib.asynccontextmanager
async def ours(args: argparse.Namespace) -> AsyncIterator[Target]:
    with sqlite_database() as url:
        helpdesk_cli("migrate", database_url=url)
        with helpdesk_server(url) as (base, server):
            async with aiohttp.ClientSession() as session:
                tickets = await create_tickets(session, base, WARM_UP_ROUNDS + args.events)
                agent = token("bench-publisher", "agent")

                async def publish(k: int) -> None:
                    data = await graphql(session, base, agent, TAKE, {"id": tickets[k]})
                    assert data["takeTicket"]["ticket"]["status"] == "IN_PROGRESS", data

                yield Target(
                    "ours",
                    base.replace("http", "ws") + "/graphql",
                    server.pid,
                    publish,
                    tickets.__getitem__,
                )


@contextlib.asynccontextmanager
async def stock(args: argparse.Namespace) -> AsyncIterator[Target]:
    port = free_port()
    command = [PYTHON, "-m", "bench.refs.stock_subscriptions", "--port", str(port)]
    command += ["--loop", args.stock_loop]
    base = f"http://127.0.0.1:{port}"
    with process(command, cpu=SERVER_CPU, ready_url=f"{base}/healthz") as server:
        async with aiohttp.ClientSession() as session:

            async def publish(k: int) -> None:
                async with session.post(f"{base}/publish", json={"ticketId": str(k)}) as response:
                    response.raise_for_status()
                    await response.read()

            yield Target("stock", f"ws://127.0.0.1:{port}/graphql", server.pid, publish, str)


@dataclass
class Row:
    server: str
    size: int
    rss_before_kb: int
    rss_after_kb: int
    connect_seconds: float
    latencies_ms: list[float]
    last_ms: list[float]  # per event: its last delivery
    expected: int
    delivered: int
    duplicates: int
    response_ms: list[float]
    server_cpu_ms_per_event: float
    client_cpu_us: float
    timeouts: int
    closed: int
    errors: list[str]

    @property
    def kb_per_subscriber(self) -> float:
        return (self.rss_after_kb - self.rss_before_kb) / self.size

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 0.99)


async def measure(target: Target, size: int, args: argparse.Namespace) -> Row:
    print(f"[{target.label} {size}] connecting {size} subscribers", flush=True)
    rss_before = rss_kb(target.pid)
    async with Clients.start(
        [target.ws_url],
        size,
        mint=f"agent:bench-agent:{args.agents}",
        query=STATUS_CHANGED,
        engine=args.engine,
    ) as clients:
        ready = await clients.ready()
        rounds = await clients.warm_up(
            target.publish, rounds=WARM_UP_ROUNDS, within=args.event_timeout
        )
        print(
            f"[{target.label} {size}] subscribed in {ready['seconds']} s, live after {rounds} "
            "warm-up event(s)",
            flush=True,
        )
        await asyncio.sleep(args.idle)
        rss_after = rss_kb(target.pid)
        base = (await clients.status())["received"]
        cpu_start = cpu_ticks(target.pid)
        sends: dict[str, float] = {}
        response_ms: list[float] = []
        timeouts = 0
        last = 0.0
        for i in range(args.events):
            await asyncio.sleep(max(0.0, last + args.interval - time.monotonic()))
            last = time.monotonic()
            k = WARM_UP_ROUNDS + i
            sent = time.time()
            await target.publish(k)
            response_ms.append((time.time() - sent) * 1000)
            sends[target.ticket_of(k)] = sent
            status, complete = await clients.wait_received(
                base + (i + 1) * size, args.event_timeout
            )
            if not complete:
                timeouts += 1
                print(f"[{target.label} {size}] event {i}: {status}", flush=True)
                base = status["received"] - (i + 1) * size
        await clients.wait_quiet(quiet=1.0, within=args.event_timeout)
        server_cpu = cpu_ticks(target.pid) - cpu_start
        results = await clients.stop()
    by_ticket = results.by_ticket()
    latencies = [
        (arrival - sent) * 1000
        for ticket, sent in sends.items()
        for arrival in by_ticket.get(ticket, ())
    ]
    # When each fan-out was complete: its last arrival.
    done_ms = [(max(by_ticket[t]) - sent) * 1000 for t, sent in sends.items() if by_ticket.get(t)]
    measured_events = [e for e, t in results.tickets.items() if t in sends]
    row = Row(
        server=target.label,
        size=size,
        rss_before_kb=rss_before,
        rss_after_kb=rss_after,
        connect_seconds=ready["seconds"],
        latencies_ms=latencies,
        last_ms=done_ms,
        expected=size * args.events,
        delivered=len(latencies),
        duplicates=results.duplicates_of(measured_events),
        response_ms=response_ms,
        server_cpu_ms_per_event=server_cpu * 1000 / args.events,
        client_cpu_us=results.cpu_seconds * 1e6 / max(1, results.received),
        timeouts=timeouts,
        closed=results.closed,
        errors=results.errors,
    )
    cells = latency_cells(latencies)
    print(
        f"[{target.label} {size}] p50/p99/max {'/'.join(cells)} ms, delivered {row.delivered}"
        f"/{row.expected}, {row.kb_per_subscriber:.1f} KB per subscriber",
        flush=True,
    )
    return row


def report(rows: list[Row], args: argparse.Namespace) -> str:
    out = [
        table(
            f"Fan-out: {args.events} status changes to N idle subscribers (ticketStatusChanged)",
            [
                "server",
                "subscribers",
                "connect s",
                "RSS before MB",
                "RSS idle MB",
                "KB / subscriber",
                "p50 ms",
                "p99 ms",
                "max ms",
                "fan-out done ms (min / median / max of events)",
                "expected",
                "delivered",
                "lost",
                "duplicated",
                "publish response p50 ms",
                "server CPU ms / event",
                "client CPU µs / message",
            ],
            [
                [
                    r.server,
                    f"{r.size:,}",
                    f"{r.connect_seconds:.1f}",
                    f"{r.rss_before_kb / 1024:.1f}",
                    f"{r.rss_after_kb / 1024:.1f}",
                    f"{r.kb_per_subscriber:.1f}",
                    *latency_cells(r.latencies_ms),
                    " / ".join(f"{f(r.last_ms):.0f}" for f in (min, statistics.median, max))
                    if r.last_ms
                    else "-",
                    f"{r.expected:,}",
                    f"{r.delivered:,}",
                    f"{max(0, r.expected - r.delivered):,}",
                    r.duplicates,
                    f"{percentile(r.response_ms, 0.5):.1f}",
                    f"{r.server_cpu_ms_per_event:.0f}",
                    f"{r.client_cpu_us:.0f}",
                ]
                for r in rows
            ],
        )
    ]
    ours = {r.size: r for r in rows if r.server == "ours"}
    stock = {r.size: r for r in rows if r.server == "stock"}
    targets = []
    for size, row in ours.items():
        if size in TARGETS:
            targets.append(
                [
                    f"p99 at {size:,}",
                    f"≤ {TARGETS[size]:.0f} ms",
                    f"{row.p99:.1f} ms",
                    "yes" if row.p99 <= TARGETS[size] else "NO",
                ]
            )
        if size == 10_000:
            kb = row.kb_per_subscriber
            targets.append(
                [
                    f"RSS per idle subscriber at {size:,}",
                    f"≤ {TARGET_KB:.0f} KB",
                    f"{kb:.1f} KB",
                    "yes" if kb <= TARGET_KB else "NO",
                ]
            )
        lost = max(0, row.expected - row.delivered)
        targets.append(
            [
                f"lost / duplicated at {size:,}",
                "0 / 0",
                f"{lost} / {row.duplicates}",
                "yes" if lost == 0 and row.duplicates == 0 else "NO",
            ]
        )
    if targets:
        out.append(table("Targets (ours)", ["figure", "target", "measured", "met"], targets))
    ratios = [
        [
            f"{size:,}",
            f"{ours[size].p99 / stock[size].p99:.2f}",
            f"{ours[size].kb_per_subscriber / stock[size].kb_per_subscriber:.2f}"
            if stock[size].kb_per_subscriber > 0
            else "-",
        ]
        for size in ours
        if size in stock
    ]
    if ratios:
        out.append(
            table(
                "Ours / stock Strawberry",
                ["subscribers", "p99 ratio", "KB per subscriber ratio"],
                ratios,
            )
        )
    problems = [
        f"- {r.server} {r.size:,}: {r.timeouts} event(s) not fully delivered within "
        f"{args.event_timeout:.0f} s, {r.closed} socket(s) closed, errors: {r.errors[:3]}"
        for r in rows
        if r.timeouts or r.closed or r.errors
    ]
    out.append(
        f"{machine()}; client engine {args.engine}; stock server on {args.stock_loop}; "
        f"{args.agents} agent users share the "
        f"connections; events {args.interval} s "
        "apart at least, each after the previous one was fully delivered."
    )
    return "\n".join(out + problems)


async def run(args: argparse.Namespace) -> None:
    rows = []
    for size in args.sizes:
        for label in args.servers:
            factory = ours if label == "ours" else stock
            async with factory(args) as target:
                rows.append(await measure(target, size, args))
    print()
    print(report(rows, args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.fanout", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="1000,10000",
        type=lambda s: [int(x.replace("_", "")) for x in s.split(",")],
        help="comma-separated subscriber counts (default 1000,10000)",
    )
    parser.add_argument("--events", type=int, default=20, help="status changes per size")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between events, at least"
    )
    parser.add_argument(
        "--event-timeout", type=float, default=60.0, help="seconds to wait for one fan-out"
    )
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before measuring RSS")
    parser.add_argument("--agents", type=int, default=50, help="distinct agent users")
    parser.add_argument("--engine", choices=("raw", "aiohttp"), default="raw", help="client")
    parser.add_argument(
        "--stock-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the stock server's event loop (uvloop, as ours, by default)",
    )
    parser.add_argument(
        "--servers",
        default="ours,stock",
        type=lambda s: s.split(","),
        help="ours,stock (default both)",
    )
    args = parser.parse_args(argv)
    pin_to_load_core()  # this process publishes
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
