"""Presence at 1,000 viewers on 100 tickets: the server's memory and the Redis traffic.

One run, side by side: `helpdesk serve` (fresh SQLite database) with the memory broker, and with
a Redis of its own (a private `redis-server` on a free port, so its counters hold nothing but
ours). 100 tickets; 1,000 agents (distinct users), ten on each ticket, each with a WebSocket of
their own watching `ticketPresence`. A third column is the same 1,000 sockets subscribed to
`ticketEvents(ticketId:)` instead, on the memory broker: what a live subscription costs without
presence.

Phases: *join* (the 1,000 subscriptions, each answered with its first list, until the pushes to
those already watching stop), *idle* (`--idle` s with nothing happening: the heartbeat renewals
and the re-reads when sessions would lapse, scaled to a minute), *typing* (one `reportTyping` on
each ticket, until its ten watchers have been told), *leave* (every socket closed, until Redis
holds no presence key). Redis figures are its own counters (`INFO commandstats`, `INFO stats`),
less the INFO calls that read them. Memory is the server's RSS.

    .venv/bin/python -m bench.presence [--viewers 1000 --tickets 100 --idle 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import redis

from bench.common import (
    free_port,
    helpdesk_cli,
    helpdesk_server,
    machine,
    pin_to_load_core,
    process,
    raise_fd_limit,
    rss_kb,
    sqlite_database,
    table,
)
from bench.fanout import graphql, token

PRESENCE = """subscription($id: ID!) {
  ticketPresence(ticketId: $id) { viewers { user { sub name } typing since } agentTyping }
}"""
EVENTS = "subscription($id: ID) { ticketEvents(ticketId: $id) { id kind } }"
CREATE = """mutation($i: CreateTicketInput!) { createTicket(input: $i) { ticket { id } } }"""
TYPING = """mutation($i: ReportTypingInput!) { reportTyping(input: $i) { typingUntil } }"""
QUIET = 1.0  # seconds without a push that end a phase


@dataclass
class Viewers:
    """The clients' side: sockets, and every `next` they received."""

    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)
    pushes: int = 0
    last_push: float = field(default_factory=time.monotonic)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def read(self, ws: aiohttp.ClientWebSocketResponse, first: asyncio.Future[None]) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if data["type"] == "next":
                self.pushes += 1
                self.last_push = time.monotonic()
                if not first.done():
                    first.set_result(None)
            elif data["type"] == "ping":
                await ws.send_json({"type": "pong"})
            elif data["type"] == "error":
                raise RuntimeError(data)

    async def quiet(self) -> None:
        """Until no push came for a while (polled: pushes come from many readers)."""
        for _ in range(10_000):
            left = self.last_push + QUIET - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(left)


async def open_viewer(
    session: aiohttp.ClientSession,
    base: str,
    viewers: Viewers,
    sub: str,
    query: str,
    ticket_id: str,
    wait_first: bool,
) -> None:
    ws = await session.ws_connect(f"{base}/graphql", protocols=["graphql-transport-ws"])
    await ws.send_json({"type": "connection_init", "payload": {"token": token(sub, "agent")}})
    ack = await ws.receive_json()
    assert ack["type"] == "connection_ack", ack
    first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    viewers.readers.append(asyncio.create_task(viewers.read(ws, first)))
    await ws.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": query, "variables": {"id": ticket_id}},
        }
    )
    viewers.sockets.append(ws)
    if wait_first:
        await asyncio.wait_for(first, 30)


@dataclass(frozen=True)
class RedisCounters:
    commands: int
    bytes_in: int
    bytes_out: int
    used_memory: int
    keys: int


class RedisWatch:
    """Reads a Redis's own counters, leaving out the calls made to read them."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.info_calls = 0
        self.info_bytes = 0

    def read(self) -> RedisCounters:
        stats = self.client.info("commandstats")
        traffic = self.client.info("stats")
        memory = self.client.info("memory")
        keys = int(self.client.dbsize())
        self.info_calls += 4
        self.info_bytes += 6_000  # the size of the three INFO replies, about
        commands = sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_"))
        return RedisCounters(
            commands=commands - self.info_calls,
            bytes_in=int(traffic["total_net_input_bytes"]) - 40 * self.info_calls,
            bytes_out=int(traffic["total_net_output_bytes"]) - self.info_bytes,
            used_memory=int(memory["used_memory"]),
            keys=keys,
        )


@dataclass
class Figures:
    rss_before_kb: int = 0
    rss_after_kb: int = 0
    join_seconds: float = 0.0
    pushes: dict[str, int] = field(default_factory=dict)
    redis: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # commands, in, out
    redis_memory: int = 0
    redis_keys: int = 0


def _delta(a: RedisCounters, b: RedisCounters) -> tuple[int, int, int]:
    return (b.commands - a.commands, b.bytes_in - a.bytes_in, b.bytes_out - a.bytes_out)


async def measure(
    base: str,
    pid: int,
    *,
    query: str,
    viewers_count: int,
    tickets: int,
    idle: float,
    watch: RedisWatch | None,
) -> Figures:
    figures = Figures()
    timeout = aiohttp.ClientTimeout(total=None)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        customer = token("bench-customer", "customer")
        ticket_ids = []
        for n in range(tickets):
            data = await graphql(
                session,
                base,
                customer,
                CREATE,
                {"i": {"categorySlug": "app-help", "question": f"Presence bench {n}"}},
            )
            ticket_ids.append(data["createTicket"]["ticket"]["id"])
        await asyncio.sleep(1.0)
        figures.rss_before_kb = rss_kb(pid)
        before = watch.read() if watch else None

        viewers = Viewers()
        presence = query is PRESENCE
        started = time.monotonic()
        batch = 50
        for first in range(0, viewers_count, batch):
            await asyncio.gather(
                *(
                    open_viewer(
                        session,
                        base,
                        viewers,
                        f"agent-{i}",
                        query,
                        ticket_ids[i % tickets],
                        presence,
                    )
                    for i in range(first, min(first + batch, viewers_count))
                )
            )
        figures.join_seconds = time.monotonic() - started
        await viewers.quiet()
        figures.pushes["join"] = viewers.pushes
        joined = watch.read() if watch else None
        figures.rss_after_kb = rss_kb(pid)

        await asyncio.sleep(idle)
        idled = watch.read() if watch else None
        figures.rss_after_kb = max(figures.rss_after_kb, rss_kb(pid))

        if presence:
            pushed = viewers.pushes
            # On each ticket, one of its viewers types (a user's sessions are capped).
            await asyncio.gather(
                *(
                    graphql(
                        session, base, token(f"agent-{n}", "agent"), TYPING, {"i": {"ticketId": t}}
                    )
                    for n, t in enumerate(ticket_ids)
                )
            )
            await viewers.quiet()
            figures.pushes["typing"] = viewers.pushes - pushed
        typed = watch.read() if watch else None

        for ws in viewers.sockets:
            await ws.close()
        for reader in viewers.readers:
            reader.cancel()
        if watch is not None:
            deadline = time.monotonic() + 30
            for _ in range(300):  # Redis is polled: it tells nobody when its keys are gone
                if not watch.client.dbsize() or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            left = watch.read()
            assert before and joined and idled and typed
            commands, received, sent = _delta(joined, idled)
            per_minute = 60 / idle
            figures.redis = {
                "join": _delta(before, joined),
                "idle": (
                    round(commands * per_minute),
                    round(received * per_minute),
                    round(sent * per_minute),
                ),
                "typing": _delta(idled, typed),
                "leave": _delta(typed, left),
            }
            figures.redis_memory = joined.used_memory - before.used_memory
            figures.redis_keys = joined.keys - before.keys
    return figures


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    port = free_port()
    command = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    with process(command, cpu=None):
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


def run_one(broker: str, query: str, args: argparse.Namespace, watch: RedisWatch | None) -> Figures:
    with sqlite_database() as database:
        helpdesk_cli("migrate", database_url=database)
        with helpdesk_server(database, broker) as (base, child):
            return asyncio.run(
                measure(
                    base,
                    child.pid,
                    query=query,
                    viewers_count=args.viewers,
                    tickets=args.tickets,
                    idle=args.idle,
                    watch=watch,
                )
            )


def _kib(value: int) -> str:
    return f"{value / 1024:,.1f} KiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of the idle phase")
    args = parser.parse_args()
    raise_fd_limit()
    pin_to_load_core()
    print(machine())
    print(f"{args.viewers} viewers (distinct agents) on {args.tickets} tickets\n")

    with private_redis() as redis_url:
        watch = RedisWatch(redis_url)
        runs = {
            "ticketEvents, memory broker (no presence)": run_one("memory://", EVENTS, args, None),
            "ticketPresence, memory": run_one("memory://", PRESENCE, args, None),
            "ticketPresence, Redis": run_one(redis_url, PRESENCE, args, watch),
        }

    rows = []
    for name, f in runs.items():
        growth = f.rss_after_kb - f.rss_before_kb
        rows.append(
            [
                name,
                f"{f.rss_before_kb / 1024:,.0f} → {f.rss_after_kb / 1024:,.0f} MiB",
                f"{growth / args.viewers:,.1f}",
                f"{f.join_seconds:.1f} s",
                f.pushes.get("join", 0),
                f.pushes.get("typing", "–"),
            ]
        )
    print(
        table(
            "Server memory",
            ["subscriptions", "RSS before → after", "KB per viewer", "join", "pushes", "typing"],
            rows,
        )
    )
    redis_run = runs["ticketPresence, Redis"]
    traffic = [
        [phase, commands, _kib(received), _kib(sent)]
        for phase, (commands, received, sent) in redis_run.redis.items()
    ]
    traffic[1][0] = f"idle, per minute (from {args.idle:.0f} s)"
    print(table("Redis traffic (presence, Redis)", ["phase", "commands", "in", "out"], traffic))
    print(
        f"Redis memory held by {args.viewers} sessions: {_kib(redis_run.redis_memory)} "
        f"({redis_run.redis_memory / args.viewers:,.0f} B per viewer) in "
        f"{redis_run.redis_keys} keys"
    )


if __name__ == "__main__":
    main()
