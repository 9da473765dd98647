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
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from bench.common import (
    LOAD_CPU,
    add_database_url_option,
    helpdesk_server,
    machine,
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


async def scenario(args: argparse.Namespace, url: str) -> str:
    customer = token(CUSTOMER, "customer")
    headers = {"Authorization": f"Bearer {customer}", "Content-Type": "application/json"}
    notes: list[str] = []
    with helpdesk_server(url, args.broker) as (base, server):
        async with aiohttp.ClientSession() as session:
            first = await graphql(
                session,
                base,
                customer,
                CREATE,
                {"in": {"categorySlug": "app-help", "question": "The ticket replies go to"}},
            )
            ticket_id = first["createTicket"]["ticket"]["id"]
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

            ws_url = base.replace("http", "ws") + "/graphql"
            async with Clients.start(
                [ws_url],
                args.subscribers,
                mint=f"agent:bench-agent:{args.agents}",
                query=args.query,
                engine=args.engine,
            ) as clients:
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
    add_database_url_option(parser)
    args = parser.parse_args(argv)
    report_on_new_postgres(args.database_url, lambda url: scenario(args, url))


if __name__ == "__main__":
    main()
