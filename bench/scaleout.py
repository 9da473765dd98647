"""Scale-out: N server processes on one PostgreSQL database and one Redis, events written elsewhere.

For N = 1, 2, 4, 8 (`--processes`), N `helpdesk serve` processes share a fresh PostgreSQL
database and a Redis of this run's own (`redis-server` on a free port, so no other process
publishes on its channels). Each process holds S agent subscribers (`--subscribers`, default 100)
to `ticketEvents` without the ticket (`feed`: what the event feed costs) and, in a second row
per N, with `ticket { id number }` (`ticket`: the selection's reads on top). The writer process of
bench/crossprocess.py calls the service functions directly (a status change and its event in one
transaction, published to Redis after commit) and writes E events (`--events`, default 2,000) at
`--rate` per second (default 200). Every agent sees every event: N × S deliveries per event.

Per row: deliveries expected, delivered, lost and duplicated; PostgreSQL statements per event
summed over the server processes, and per process, from each process's
`helpdesk_db_statements_total` before and after the run. Their background work is included: its
idle rate, measured over an idle window as long as the run just before it (the feed's read of the
log while the broker is quiet, the SLA scans), is shown beside it, not subtracted, since what a
process does while idle is not what it does while events come. Redis messages per event: the
writer's publishes plus what the servers received (`helpdesk_broker_messages_received_total`).
Server CPU ms per event (all processes), Redis CPU per message (its own redis-server, less its
housekeeping over the idle window; the CPU clock ticks every 10 ms, so a short run gives a coarse
figure), commit→deliver latency over every delivery. The column "per event per process" shows
whether the total grows with N.

Servers share core 0 by default (`--server-cpus`), the writer and the clients core 1: on two
cores the latencies at large N show the machine's CPU, not the design.

    .venv/bin/python -m bench.scaleout --processes 1,2,4,8 --subscribers 100 --events 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    LOAD_CPU,
    PYTHON,
    RedisServer,
    add_database_url_option,
    helpdesk_cli,
    helpdesk_server,
    machine,
    percentile,
    pin_to_load_core,
    postgres_database,
    redis_server,
    scrape,
    table,
    with_pool,
)
from bench.ws_clients import Child, Clients, cpu_ticks, latency_cells

QUERIES = {
    "feed": "subscription { ticketEvents { id kind at } }",
    "ticket": "subscription { ticketEvents { id kind ticket { id number } at } }",
}
STATEMENTS = "helpdesk_db_statements_total"
RECEIVED = "helpdesk_broker_messages_received_total"
AGENTS = "bench-agent"


@dataclass
class Row:
    processes: int
    query: str
    subscribers: int  # per process
    events: int
    expected: int
    delivered: int
    duplicated: int
    statements: float  # during the run, all processes, their background work included
    idle_per_second: float  # all processes
    received: float  # broker messages, all processes
    published: int  # by the writer
    server_cpu_seconds: float  # all processes
    redis_cpu_seconds: float | None  # None: the machine's Redis, shared with others
    writer_cpu_seconds: float
    latencies_ms: list[float] = field(repr=False)
    problems: list[str]

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.delivered)

    @property
    def statements_per_event(self) -> float:
        return self.statements / max(1, self.events)

    @property
    def redis_per_event(self) -> float:
        return (self.published + self.received) / max(1, self.events)

    @property
    def cpu_ms_per_event(self) -> float:
        return self.server_cpu_seconds * 1000 / max(1, self.events)

    @property
    def cpu_us_per_delivery(self) -> float:
        return self.server_cpu_seconds * 1e6 / max(1, self.delivered)

    @property
    def redis_us_per_message(self) -> float | None:
        if self.redis_cpu_seconds is None:
            return None
        return self.redis_cpu_seconds * 1e6 / max(1.0, self.published + self.received)

    @property
    def writer_ms_per_event(self) -> float:
        return self.writer_cpu_seconds * 1000 / max(1, self.events)


@dataclass
class _Sample:
    at: float
    statements: float
    received: float
    cpu: float


async def _samples(servers: Sequence[tuple[str, Any]]) -> list[_Sample]:
    async def one(base: str, pid: int) -> _Sample:
        found = await asyncio.to_thread(scrape, base, STATEMENTS, RECEIVED)
        return _Sample(time.monotonic(), found[STATEMENTS], found[RECEIVED], cpu_ticks(pid))

    return list(await asyncio.gather(*(one(base, child.pid) for base, child in servers)))


def _busy(
    idle: float, before: float, after: float, idle_at: float, before_at: float, after_at: float
) -> float:
    """Redis's CPU over the run less its housekeeping (its timer runs whether messages come
    or not), measured over the idle window."""
    housekeeping = (before - idle) / (before_at - idle_at)
    return max(0.0, (after - before) - housekeeping * (after_at - before_at))


class Rig:
    """One database, one Redis and the writer, for every row of a run."""

    def __init__(
        self, database_url: str, redis: RedisServer, writer: Child, events_file: Path, pool: int
    ):
        self.database_url = with_pool(database_url, pool)
        self.redis = redis
        self.redis_url = redis.url
        self.writer = writer
        self.events_file = events_file

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        url: str,
        redis: RedisServer,
        *,
        tickets: int,
        rate: float,
        pool: int,
        concurrency: int = 8,
    ) -> AsyncIterator[Rig]:
        """On a migrated database `url`; servers with pools of `pool` connections."""
        with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as name:
            folder = Path(name)
            events_file = folder / "events.json"
            writer_url = with_pool(url, concurrency)
            command = [PYTHON, "-m", "bench.crossprocess", "writer", "--database-url", writer_url]
            command += ["--broker-url", redis.url, "--customers", str(tickets)]
            command += ["--rate", str(rate), "--concurrency", str(concurrency)]
            command += ["--out", str(events_file)]
            async with Child.start(command, name="writer", cpu=LOAD_CPU) as writer:
                ready = await writer.receive(600)
                print(f"writer: {ready['tickets']} tickets in {ready['seconds']:.1f} s", flush=True)
                yield cls(url, redis, writer, events_file, pool)

    @contextlib.contextmanager
    def servers(self, count: int, cpus: Sequence[int]) -> Iterator[list[tuple[str, Any]]]:
        with contextlib.ExitStack() as stack:
            yield [
                stack.enter_context(
                    helpdesk_server(self.database_url, self.redis_url, cpu=cpus[i % len(cpus)])
                )
                for i in range(count)
            ]

    def _redis_cpu(self) -> float | None:
        return None if self.redis.pid is None else cpu_ticks(self.redis.pid)

    async def measure(
        self,
        *,
        processes: int,
        subscribers: int,
        query: str,
        label: str,
        rate: float,
        events: int,
        cpus: Sequence[int] = (0,),
        agents: int = 50,
    ) -> Row:
        """One row: `processes` servers with `subscribers` each, `events` written at `rate`."""
        seconds = events / rate
        with self.servers(processes, cpus) as servers:
            urls = [base.replace("http", "ws") + "/graphql" for base, _ in servers]
            async with Clients.start(
                urls,
                processes * subscribers,
                mint=f"agent:{AGENTS}:{agents}",
                query=query,
            ) as clients:
                await clients.ready()

                async def warm_up(_: int) -> None:
                    answer = await self.writer.ask("warmup", 300)
                    assert answer["type"] == "warmed", answer

                await clients.warm_up(warm_up, rounds=3)
                await clients.wait_quiet(quiet=1.0, within=60)
                # The idle rate of each process (the feed, SLA scans), over as long as the run.
                idle = await _samples(servers)
                redis_idle = self._redis_cpu()
                await asyncio.sleep(seconds)
                before = await _samples(servers)
                redis_cpu = self._redis_cpu()
                done = await self.writer.ask(f"run {rate} {seconds}", seconds * 10 + 120)
                await clients.wait_quiet(quiet=2.0, within=120)
                after = await _samples(servers)
                redis_after = self._redis_cpu()
                results = await clients.stop()
        written: dict[str, list[Any]] = orjson.loads(self.events_file.read_bytes())
        # The idle rate is shown, not subtracted: what the feed reads while the broker is quiet
        # it does not read while events come.
        statements = sum(a.statements - b.statements for b, a in zip(before, after, strict=True))
        idle_per_second = sum(
            (b.statements - i.statements) / (b.at - i.at) for i, b in zip(idle, before, strict=True)
        )
        latencies = [
            (arrival - committed) * 1000
            for event_id, (committed, *_rest) in written.items()
            for arrival in results.arrivals.get(event_id, ())
        ]
        problems = []
        if done["error_count"] or results.error_count or results.closed:
            problems.append(
                f"writer errors {done['error_count']}: {done['errors'][:3]}; client errors "
                f"{results.error_count}: {results.errors[:3]}; sockets closed {results.closed}"
            )
        row = Row(
            processes=processes,
            query=label,
            subscribers=subscribers,
            events=done["events"],
            expected=done["events"] * processes * subscribers,
            delivered=len(latencies),
            duplicated=results.duplicates_of(list(written)),
            statements=statements,
            idle_per_second=idle_per_second,
            received=sum(a.received - b.received for b, a in zip(before, after, strict=True)),
            published=done["events"],
            server_cpu_seconds=sum(a.cpu - b.cpu for b, a in zip(before, after, strict=True)),
            redis_cpu_seconds=None
            if redis_idle is None or redis_cpu is None or redis_after is None
            else _busy(redis_idle, redis_cpu, redis_after, idle[0].at, before[0].at, after[0].at),
            writer_cpu_seconds=done["cpu_seconds"],
            latencies_ms=latencies,
            problems=problems,
        )
        p50, p99, _ = latency_cells(latencies)
        print(
            f"[{processes} × {subscribers} {label}] {row.events} events, delivered "
            f"{row.delivered}/{row.expected}, {row.statements_per_event:.2f} statements/event, "
            f"{row.cpu_ms_per_event:.2f} CPU ms/event, p50/p99 {p50}/{p99} ms",
            flush=True,
        )
        return row


def report(rows: list[Row], args: argparse.Namespace) -> str:
    out = [
        table(
            f"Scale-out: N processes × {args.subscribers} agent subscribers, {args.events:,} "
            f"events at {args.rate:g}/s (commit → deliver)",
            [
                "processes",
                "subscription",
                "events written",
                "deliveries expected",
                "delivered",
                "lost",
                "duplicated",
                "PG statements / event (all processes, idle included)",
                "PG statements / event / process",
                "idle PG statements / s (all processes)",
                "Redis messages / event (published + received)",
                "server CPU ms / event (sum)",
                "Redis CPU µs / message",
                "p50 ms",
                "p99 ms",
            ],
            [
                [
                    r.processes,
                    r.query,
                    f"{r.events:,}",
                    f"{r.expected:,}",
                    f"{r.delivered:,}",
                    f"{r.lost:,}",
                    r.duplicated,
                    f"{r.statements_per_event:.2f}",
                    f"{r.statements_per_event / r.processes:.2f}",
                    f"{r.idle_per_second:.1f}",
                    f"{r.redis_per_event:.2f}",
                    f"{r.cpu_ms_per_event:.2f}",
                    "-" if r.redis_us_per_message is None else f"{r.redis_us_per_message:.1f}",
                    *latency_cells(r.latencies_ms)[:2],
                ]
                for r in rows
            ],
        ),
        f"{machine()}; servers on cores {args.server_cpus}, writer and clients on core "
        f"{LOAD_CPU}; Redis of the run's own; writer CPU "
        f"{percentile([r.writer_ms_per_event for r in rows], 0.5):.2f} ms per write (median of "
        "rows). Statements: the ORM's (BEGIN/COMMIT not counted). Pools of "
        f"{args.pool} connections per server (the machine's PostgreSQL allows 100 in all).",
    ]
    out += [f"- {r.processes} × {r.query}: {p}" for r in rows for p in r.problems]
    return "\n".join(out)


@contextlib.contextmanager
def database_and_redis(admin_url: str) -> Iterator[tuple[str, RedisServer]]:
    """A fresh migrated PostgreSQL database and a Redis of this run's own."""
    with postgres_database(admin_url) as url, redis_server() as redis:
        helpdesk_cli("migrate", database_url=url)
        yield url, redis


async def run(args: argparse.Namespace, url: str, redis: RedisServer) -> list[Row]:
    cpus = [int(c) for c in args.server_cpus.split(",")]
    rows = []
    async with Rig.start(url, redis, tickets=args.tickets, rate=args.rate, pool=args.pool) as rig:
        for processes in args.processes:
            for label in args.queries:
                rows.append(
                    await rig.measure(
                        processes=processes,
                        subscribers=args.subscribers,
                        query=QUERIES[label],
                        label=label,
                        rate=args.rate,
                        events=args.events,
                        cpus=cpus,
                    )
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.scaleout", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--processes",
        default="1,2,4,8",
        type=lambda s: [int(x) for x in s.split(",")],
        help="comma-separated server process counts (default 1,2,4,8)",
    )
    parser.add_argument("--subscribers", type=int, default=100, help="agents per process")
    parser.add_argument("--events", type=int, default=2000, help="events written per row")
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--tickets", type=int, default=50, help="tickets the writer toggles")
    parser.add_argument(
        "--queries",
        default="feed,ticket",
        type=lambda s: s.split(","),
        help=f"subscriptions to measure, of {','.join(QUERIES)}",
    )
    parser.add_argument(
        "--pool", type=int, default=3, help="database connections per server, at most"
    )
    parser.add_argument("--server-cpus", default="0", help="cores the servers take turns on")
    add_database_url_option(parser)
    args = parser.parse_args(argv)
    pin_to_load_core()
    with database_and_redis(args.database_url) as (url, redis):
        rows = asyncio.run(run(args, url, redis))
    print()
    print(report(rows, args))


if __name__ == "__main__":
    main()
