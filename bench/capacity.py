"""Capacity: per-process figures measured on this machine in one run, and what they imply.

Measured, in one run:

- RSS per idle subscriber: bench/fanout.py's measurement (one process, SQLite, memory broker,
  `--idle-subscribers` agents; the memory a socket and its subscription hold does not depend on
  the database).
- Server CPU per delivery, on PostgreSQL + a Redis of the run's own with the writer of
  bench/crossprocess.py (bench/scaleout.py's rig): one process with S1 and then S2 agents in one
  shared group (`ticketEvents { id kind at }`), and with S1 and S2 agents in as many groups (the
  same subscription with `after`: each one runs alone, as a customer's does). The CPU per event
  is a line in S: its slope is the CPU per delivery, its intercept what the process spends on an
  event before any subscriber (receiving and handing on the event, the group's one execution).
- PostgreSQL statements and Redis messages per event, at one and two processes (the scale-out
  rows).
- CPU and statements per write: status changes called here, as the writer does (the service
  function, its transaction and the publish after commit), and the size of what is published.

Then the model: for 100,000 and 1,000,000 concurrent subscribers at 100 and 1,000 writes/s, the
processes (one core each), Redis and PostgreSQL needed, under the stated assumptions, and which
limit is reached first.

    .venv/bin/python -m bench.capacity
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench import fanout
from bench.common import (
    RedisServer,
    add_database_url_option,
    machine,
    pin_to_load_core,
    table,
    with_pool,
)
from bench.scaleout import QUERIES, Rig, Row, database_and_redis

DISTINCT = 'subscription { ticketEvents(after: "%d") { id kind at } }'
SIZES = (100_000, 1_000_000)
WRITE_RATES = (100, 1_000)


@dataclass
class Figures:
    kb_per_subscriber: float
    shared: tuple[Row, Row]
    distinct: tuple[Row, Row]
    two_processes: Row
    write_cpu_ms: float
    write_statements: float
    message_bytes: float
    pool: int
    max_connections: int

    @staticmethod
    def _line(rows: tuple[Row, Row]) -> tuple[float, float]:
        """(CPU µs per delivery, CPU µs per event at no subscriber) of one process."""
        small, large = rows
        slope = (large.cpu_ms_per_event - small.cpu_ms_per_event) / (
            large.subscribers - small.subscribers
        )
        return slope * 1000, (small.cpu_ms_per_event - slope * small.subscribers) * 1000

    @property
    def shared_us(self) -> float:
        return self._line(self.shared)[0]

    @property
    def distinct_us(self) -> float:
        return self._line(self.distinct)[0]

    @property
    def event_us(self) -> float:
        """A process's CPU per event before any subscriber: every process pays it for every
        event it receives."""
        return self._line(self.shared)[1]

    @property
    def statements_per_event_per_process(self) -> float:
        rows = (self.shared[0], self.two_processes)
        return sum(r.statements_per_event / r.processes for r in rows) / len(rows)

    @property
    def redis_us(self) -> float:
        measured = [r.redis_us_per_message for r in (*self.shared, self.two_processes)]
        values = [v for v in measured if v is not None]
        return max(values) if values else float("nan")


# --- measuring ------------------------------------------------------------------------------


async def _memory(args: argparse.Namespace) -> float:
    options = argparse.Namespace(
        events=3, agents=50, engine="raw", event_timeout=60.0, idle=2.0, interval=0.2
    )
    async with fanout.ours(options) as target:
        row = await fanout.measure(target, args.idle_subscribers, options)
    return row.kb_per_subscriber


async def _latest_event(database_url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM ticket_events"))
    finally:
        await connection.close()


async def _max_connections(database_url: str) -> int:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return int(await connection.fetchval("SHOW max_connections"))
    finally:
        await connection.close()


async def _deliveries(
    args: argparse.Namespace, url: str, redis: RedisServer
) -> tuple[tuple[Row, Row], tuple[Row, Row], Row]:
    async with Rig.start(url, redis, tickets=50, rate=args.shared_rate, pool=args.pool) as rig:
        shared = []
        for size in args.shared:
            shared.append(
                await rig.measure(
                    processes=1,
                    subscribers=size,
                    query=QUERIES["feed"],
                    label="feed, shared",
                    rate=args.shared_rate,
                    events=args.shared_events,
                )
            )
        distinct = []
        for size in args.distinct:
            latest = await _latest_event(url)
            distinct.append(
                await rig.measure(
                    processes=1,
                    subscribers=size,
                    query=DISTINCT % latest,
                    label="feed, one group each",
                    rate=args.distinct_rate,
                    events=args.distinct_events,
                )
            )
        two = await rig.measure(
            processes=2,
            subscribers=args.shared[0],
            query=QUERIES["feed"],
            label="feed, shared",
            rate=args.shared_rate,
            events=args.shared_events,
        )
    return (shared[0], shared[1]), (distinct[0], distinct[1]), two


class _Sizes:
    """The writer's broker here: notes the size of what it publishes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, channel: str, message: bytes) -> None:
        self.sizes.append(len(message))
        await self.inner.publish(channel, message)

    def subscribe(self, channel: str) -> Any:
        return self.inner.subscribe(channel)

    async def ping(self) -> bool:
        return bool(await self.inner.ping())


async def _writes(url: str, redis_url: str, count: int) -> tuple[float, float, float]:
    """(CPU ms, statements, bytes published) per status change, called one after another."""
    from models import Role, TicketStatus, db
    from pubsub import broker_from_url
    from services import ticket_work
    from services.ticket_changes import create_ticket
    from services.users import KnownUsers

    broker = _Sizes(broker_from_url(redis_url))
    await broker.connect()
    try:
        async with db.connected(with_pool(url, 2)):
            users = KnownUsers()
            agent = await users.ensure(user_id="capacity-agent", name="Agent", role=Role.AGENT)
            customer = await users.ensure(
                user_id="capacity-customer", name="Customer", role=Role.CUSTOMER
            )
            ticket = await create_ticket(
                viewer=customer, broker=broker, category_slug="app-help", question="Capacity"
            )
            await ticket_work.take_ticket(viewer=agent, broker=broker, ticket_id=ticket.id)
            targets = (TicketStatus.AWAITING_REPLY, TicketStatus.IN_PROGRESS)
            broker.sizes.clear()
            statements = db.statements_sent()
            cpu = time.process_time()
            for k in range(count):
                await ticket_work.change_ticket_status(
                    viewer=agent, broker=broker, ticket_id=ticket.id, status=targets[k % 2]
                )
            cpu = time.process_time() - cpu
            statements = db.statements_sent() - statements
    finally:
        await broker.close()
    sizes = broker.sizes or [0]
    return cpu * 1000 / count, statements / count, sum(sizes) / len(sizes)


def measure(args: argparse.Namespace) -> Figures:
    from models.db import tortoise_config

    credentials = tortoise_config(args.database_url)["connections"]["default"]["credentials"]
    kb = asyncio.run(_memory(args))
    with database_and_redis(args.database_url) as (url, redis):
        shared, distinct, two = asyncio.run(_deliveries(args, url, redis))
        cpu_ms, statements, size = asyncio.run(_writes(url, redis.url, args.writes))
        max_connections = asyncio.run(_max_connections(url))
    return Figures(
        kb_per_subscriber=kb,
        shared=shared,
        distinct=distinct,
        two_processes=two,
        write_cpu_ms=cpu_ms,
        write_statements=statements,
        message_bytes=size,
        pool=int(credentials["maxsize"]),
        max_connections=max_connections,
    )


# --- the model ------------------------------------------------------------------------------


@dataclass
class Need:
    subscribers: int
    writes: int
    processes: int
    cpu_bound: bool  # else memory-bound
    feasible: bool  # False: receiving every event takes more than a process's share of a core
    receiving: float  # that share: CPU per process for receiving every event / the budget
    memory_gb: float
    deliveries: float  # per second
    redis_in: float
    redis_out: float
    redis_mb: float  # out, per second
    redis_cores: float
    pg_statements: float
    pg_connections: int
    first: str


def need(figures: Figures, args: argparse.Namespace, subscribers: int, writes: int) -> Need:
    agents = subscribers * args.agent_share
    # CPU seconds per second: per process for receiving every event, and shared out for the
    # deliveries and the writes.
    per_process = writes * figures.event_us / 1e6
    spread = writes * (
        agents * figures.shared_us / 1e6
        + args.customer_tabs * figures.distinct_us / 1e6
        + figures.write_cpu_ms / 1e3
    )
    memory_gb = subscribers * figures.kb_per_subscriber / 1024 / 1024
    by_memory = max(1, -(-memory_gb // args.memory_gb))
    feasible = per_process < args.utilization
    by_cpu = -(-spread // (args.utilization - per_process)) if feasible else float("inf")
    processes = int(max(by_memory, by_cpu, 1)) if feasible else int(by_memory)
    redis_in = float(writes)
    redis_out = float(writes * processes)
    redis_cores = (redis_in + redis_out) * figures.redis_us / 1e6
    pg_statements = writes * (figures.write_statements + 2) + (
        writes * processes * figures.statements_per_event_per_process
    )
    connections = processes * figures.pool
    limits = {
        "every process receiving every event (CPU per process)": per_process / args.utilization,
        "Redis (one core: messages in + out)": redis_cores / args.utilization,
        f"PostgreSQL connections (max_connections {figures.max_connections})": connections
        / figures.max_connections,
    }
    name, ratio = max(limits.items(), key=lambda item: item[1])
    if not feasible:  # no number of processes helps: each one receives every event
        name, ratio = next(iter(limits.items()))
    first = f"{name}: {ratio:.1f}× its limit" if ratio >= 1 else f"none ({name} at {ratio:.0%})"
    return Need(
        subscribers=subscribers,
        writes=writes,
        processes=processes,
        cpu_bound=by_cpu >= by_memory,
        feasible=feasible,
        receiving=per_process / args.utilization,
        memory_gb=memory_gb,
        deliveries=writes * (agents + args.customer_tabs),
        redis_in=redis_in,
        redis_out=redis_out,
        redis_mb=redis_out * figures.message_bytes / 1e6,
        redis_cores=redis_cores,
        pg_statements=pg_statements,
        pg_connections=connections,
        first=first,
    )


def report(figures: Figures, args: argparse.Namespace) -> str:
    shared_small, shared_large = figures.shared
    distinct_small, distinct_large = figures.distinct
    measured = table(
        "Per-process figures (measured in this run)",
        ["figure", "value", "from"],
        [
            [
                "RSS per idle subscriber",
                f"{figures.kb_per_subscriber:.1f} KB",
                f"{args.idle_subscribers:,} idle agents on one process (bench.fanout)",
            ],
            [
                "server CPU per delivery, one shared group",
                f"{figures.shared_us:.1f} µs",
                f"{shared_small.cpu_ms_per_event:.2f} → {shared_large.cpu_ms_per_event:.2f} ms "
                f"per event at {shared_small.subscribers} → {shared_large.subscribers} agents",
            ],
            [
                "server CPU per delivery, one group each",
                f"{figures.distinct_us:.1f} µs",
                f"{distinct_small.cpu_ms_per_event:.2f} → {distinct_large.cpu_ms_per_event:.2f} "
                f"ms per event at {distinct_small.subscribers} → {distinct_large.subscribers}",
            ],
            [
                "server CPU per event before any subscriber (every process)",
                f"{figures.event_us:.0f} µs",
                "intercept of the shared line",
            ],
            [
                "CPU per write (service call + publish)",
                f"{figures.write_cpu_ms:.2f} ms",
                f"{args.writes} status changes, one after another",
            ],
            [
                "PG statements per write",
                f"{figures.write_statements:.1f} (+ BEGIN, COMMIT)",
                "the same status changes",
            ],
            [
                "PG statements per event per process",
                f"{figures.statements_per_event_per_process:.2f}",
                f"1 process: {shared_small.statements_per_event:.2f}; 2 processes: "
                f"{figures.two_processes.statements_per_event / 2:.2f} each",
            ],
            [
                "Redis messages per event",
                f"{figures.two_processes.redis_per_event:.2f} at 2 processes",
                "1 published + 1 received by each process",
            ],
            [
                "Redis CPU per message (in or out)",
                f"{figures.redis_us:.1f} µs",
                "redis-server's CPU over the scale-out rows",
            ],
            ["bytes per published event", f"{figures.message_bytes:.0f}", "the writes above"],
            [
                "PostgreSQL pool per process; max_connections",
                f"{figures.pool}; {figures.max_connections}",
                "models/db.py; the server",
            ],
        ],
    )
    needs = [need(figures, args, s, w) for s in SIZES for w in WRITE_RATES]
    model = table(
        "Capacity model",
        [
            "subscribers",
            "writes/s",
            "deliveries/s",
            "processes (cores)",
            "bound by",
            "subscriber RAM GB",
            "Redis in/s",
            "Redis out/s",
            "Redis out MB/s",
            "Redis cores",
            "PG statements/s",
            "PG connections",
            "gives out first",
        ],
        [
            [
                f"{n.subscribers:,}",
                f"{n.writes:,}",
                f"{n.deliveries:,.0f}",
                f"{n.processes:,}" if n.feasible else f"none ({n.processes:,} by memory)",
                ("CPU" if n.cpu_bound else "memory")
                if n.feasible
                else f"receiving: {n.receiving:.1f}× a process's CPU",
                f"{n.memory_gb:.1f}",
                f"{n.redis_in:,.0f}",
                f"{n.redis_out:,.0f}",
                f"{n.redis_mb:.1f}",
                f"{n.redis_cores:.2f}",
                f"{n.pg_statements:,.0f}",
                f"{n.pg_connections:,}",
                n.first,
            ]
            for n in needs
        ],
    )
    assumptions = (
        f"Assumptions: {args.agent_share:.0%} of subscribers are agents, who see every event "
        f"(one shared group per process); the rest are customers, who see their own tickets' "
        f"events ({args.customer_tabs:g} subscriber per event, in a group of their own); one "
        f"event per write; subscribers spread evenly; a process is one core used to "
        f"{args.utilization:.0%} with {args.memory_gb:g} GB for subscribers; every process "
        "subscribed to the events channel receives every event; PG statements include BEGIN "
        "and COMMIT of each write; CPU per write is the service call, not the HTTP request "
        "around it."
    )
    rows = [*figures.shared, *figures.distinct, figures.two_processes]
    problems = [
        f"- {r.processes} × {r.subscribers} {r.query}: {p}" for r in rows for p in r.problems
    ]
    lost = [r for r in rows if r.lost or r.duplicated]
    if lost:
        problems.append(
            "- lost or duplicated deliveries: "
            + ", ".join(f"{r.query} {r.subscribers}: {r.lost}/{r.duplicated}" for r in lost)
        )
    return "\n".join([measured, model, assumptions, machine(), *problems])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.capacity", description=__doc__.splitlines()[0])
    sizes = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    parser.add_argument("--idle-subscribers", type=int, default=2000)
    parser.add_argument("--shared", type=sizes, default=[50, 500], help="S1,S2 agents (shared)")
    parser.add_argument("--shared-rate", type=float, default=50)
    parser.add_argument("--shared-events", type=int, default=250)
    parser.add_argument("--distinct", type=sizes, default=[20, 100], help="S1,S2 (one group each)")
    parser.add_argument("--distinct-rate", type=float, default=10)
    parser.add_argument("--distinct-events", type=int, default=60)
    parser.add_argument("--writes", type=int, default=300, help="status changes measured here")
    parser.add_argument("--pool", type=int, default=3, help="connections per server in the run")
    parser.add_argument("--agent-share", type=float, default=0.02)
    parser.add_argument("--customer-tabs", type=float, default=1.0)
    parser.add_argument("--utilization", type=float, default=0.6)
    parser.add_argument("--memory-gb", type=float, default=3.0, help="per process, subscribers")
    add_database_url_option(parser)
    args = parser.parse_args(argv)
    pin_to_load_core()
    figures = measure(args)
    print()
    print(report(figures, args))


if __name__ == "__main__":
    main()
