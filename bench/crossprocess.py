"""Across processes: two servers on one PostgreSQL database and Redis, events written elsewhere.

Two `helpdesk serve` processes share a fresh PostgreSQL database and Redis (`--redis`). N
customers (`--subscribers`) each own one ticket and follow `ticketEvents` of their own tickets, half
of them on each server. A writer process (`python -m bench.crossprocess writer`, on core 1 with the
clients) calls the project's service functions directly (`change_ticket_status`: the ticket's
update and its event in one transaction, published to Redis after commit) at `--rate` events per
second for `--seconds`, toggling each ticket IN_PROGRESS ⇄ AWAITING_REPLY as its assigned agent, so
every event is for exactly one subscriber. Its commit time is taken right after the commit, just
before the publish (the writer's broker notes it). Latency is commit→deliver.

Both servers share core 0 by default (`--server-cpus 0,0`): the server side gets one core, as in
the other scenarios; the writer and the clients share core 1; PostgreSQL and Redis are not pinned.

    .venv/bin/python -m bench.crossprocess --subscribers 1000 --rate 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    DEFAULT_REDIS,
    LOAD_CPU,
    PYTHON,
    add_database_url_option,
    helpdesk_server,
    machine,
    percentile,
    report_on_new_postgres,
    table,
)
from bench.ws_clients import (
    Child,
    Clients,
    cpu_seconds,
    cpu_ticks,
    emit,
    latency_cells,
    stdin_commands,
)

EVENTS = "subscription { ticketEvents { id kind ticket { id } at } }"
CUSTOMERS = "bench-customer"
TARGET_P99_MS = 50.0


# --- the writer process ---------------------------------------------------------------------


class RecordingBroker:
    """The writer's broker: notes each event's commit time (now: just committed, not yet
    published) while `recording` is a dict."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.recording: dict[str, list[Any]] | None = None

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, channel: str, message: bytes) -> None:
        if self.recording is not None:
            now = time.time()
            envelope = orjson.loads(message)
            event = envelope["event"]
            # Keyed and told as subscribers see them: by their global ids.
            from services.validation import EVENT, TICKET, global_id

            self.recording[global_id(EVENT, event["id"])] = [
                now,
                global_id(TICKET, event["ticket_id"]),
                envelope["ownerId"],
                event["kind"],
            ]
        await self.inner.publish(channel, message)

    def subscribe(self, channel: str) -> Any:
        return self.inner.subscribe(channel)

    async def ping(self) -> bool:
        return bool(await self.inner.ping())


async def _paced(
    rate: float, total: int, concurrency: int, one: Callable[[int], Coroutine[Any, Any, None]]
) -> float:
    """Start `one(k)` at t0 + k/rate (later when `concurrency` calls are still running); returns
    the seconds it took."""
    gate = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        gate.release()

    started = time.monotonic()
    for k in range(total):
        delay = started + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await gate.acquire()
        task = asyncio.create_task(one(k))
        running.add(task)
        task.add_done_callback(finished)
    await asyncio.gather(*running)
    return time.monotonic() - started


async def _writer(args: argparse.Namespace) -> None:
    from models import Role, TicketStatus, db
    from pubsub import broker_from_url
    from services import ticket_work
    from services.ticket_changes import create_ticket
    from services.users import KnownUsers

    broker = RecordingBroker(broker_from_url(args.broker_url))
    await broker.connect()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=stdin_commands, args=(loop, commands), daemon=True).start()
    try:
        async with db.connected(args.database_url):
            users = KnownUsers()
            agent = await users.ensure(user_id="bench-writer", name="Bench writer", role=Role.AGENT)
            tickets: list[int] = [0] * args.customers
            status: dict[int, TicketStatus] = {}
            busy: set[int] = set()
            errors: list[str] = []
            error_count = 0

            async def open_ticket(i: int) -> None:
                customer = await users.ensure(
                    user_id=f"{CUSTOMERS}-{i}", name=f"Customer {i}", role=Role.CUSTOMER
                )
                ticket = await create_ticket(
                    viewer=customer,
                    broker=broker,
                    category_slug="app-help",
                    question=f"Bench ticket of customer {i}",
                )
                await ticket_work.take_ticket(viewer=agent, broker=broker, ticket_id=ticket.id)
                tickets[i] = ticket.id
                status[ticket.id] = TicketStatus.IN_PROGRESS

            started = time.monotonic()
            await _paced(1e9, args.customers, 8, open_ticket)
            emit({"type": "ready", "tickets": len(tickets), "seconds": time.monotonic() - started})

            async def toggle(k: int) -> None:
                nonlocal error_count
                ticket_id = tickets[k % len(tickets)]
                if ticket_id in busy:
                    error_count += 1
                    if len(errors) < 20:
                        errors.append(f"ticket {ticket_id} still changing: rate too high for N")
                    return
                busy.add(ticket_id)
                target = (
                    TicketStatus.AWAITING_REPLY
                    if status[ticket_id] is TicketStatus.IN_PROGRESS
                    else TicketStatus.IN_PROGRESS
                )
                try:
                    await ticket_work.change_ticket_status(
                        viewer=agent, broker=broker, ticket_id=ticket_id, status=target
                    )
                    status[ticket_id] = target
                except Exception as exc:
                    error_count += 1
                    if len(errors) < 20:
                        errors.append(f"{type(exc).__name__}: {exc}")
                finally:
                    busy.discard(ticket_id)

            while True:
                command = (await commands.get()).split()
                if not command or command[0] == "stop":
                    break
                if command[0] == "warmup":
                    await _paced(args.rate, len(tickets), args.concurrency, toggle)
                    emit({"type": "warmed"})
                elif command[0] == "run":
                    rate, seconds = float(command[1]), float(command[2])
                    broker.recording = {}
                    error_count, errors = 0, []
                    cpu = cpu_seconds()
                    elapsed = await _paced(rate, int(rate * seconds), args.concurrency, toggle)
                    cpu = cpu_seconds() - cpu
                    recorded, broker.recording = broker.recording, None
                    await asyncio.to_thread(Path(args.out).write_bytes, orjson.dumps(recorded))
                    emit(
                        {
                            "type": "done",
                            "changes": int(rate * seconds),
                            "events": len(recorded),
                            "seconds": elapsed,
                            "cpu_seconds": cpu,
                            "error_count": error_count,
                            "errors": errors[:5],
                        }
                    )
    finally:
        await broker.close()


# --- the scenario ---------------------------------------------------------------------------


async def scenario(args: argparse.Namespace, url: str) -> str:
    """On a migrated database `url`."""
    cpus = [int(c) for c in args.server_cpus.split(",")]
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as folder:
        events_file = Path(folder) / "events.json"
        command = [PYTHON, "-m", "bench.crossprocess", "writer", "--database-url", url]
        command += ["--broker-url", args.redis, "--customers", str(args.subscribers)]
        command += ["--rate", str(args.rate), "--concurrency", str(args.concurrency)]
        command += ["--out", str(events_file)]
        async with Child.start(command, name="writer", cpu=LOAD_CPU) as writer:
            ready = await writer.receive(600)
            print(f"writer: {ready['tickets']} tickets in {ready['seconds']:.1f} s", flush=True)
            with (
                helpdesk_server(url, args.redis, cpu=cpus[0]) as (base_a, server_a),
                helpdesk_server(url, args.redis, cpu=cpus[1 % len(cpus)]) as (base_b, server_b),
            ):
                urls = [b.replace("http", "ws") + "/graphql" for b in (base_a, base_b)]
                async with Clients.start(
                    urls,
                    args.subscribers,
                    mint=f"customer:{CUSTOMERS}:{args.subscribers}",
                    query=EVENTS,
                    engine=args.engine,
                ) as clients:
                    connected = await clients.ready()

                    async def warm_up(_: int) -> None:
                        answer = await writer.ask("warmup", 300)
                        assert answer["type"] == "warmed", answer

                    rounds = await clients.warm_up(warm_up, rounds=3)
                    print(
                        f"{args.subscribers} subscribers in {connected['seconds']} s, live after "
                        f"{rounds} warm-up round(s); writing {args.rate}/s for {args.seconds} s",
                        flush=True,
                    )
                    await asyncio.sleep(1.0)
                    cpu = [cpu_ticks(server_a.pid), cpu_ticks(server_b.pid)]
                    done = await writer.ask(
                        f"run {args.rate} {args.seconds}", args.seconds * 10 + 60
                    )
                    await clients.wait_quiet(quiet=2.0, within=60)
                    cpu = [cpu_ticks(server_a.pid) - cpu[0], cpu_ticks(server_b.pid) - cpu[1]]
                    results = await clients.stop()
            written: dict[str, list[Any]] = orjson.loads(events_file.read_bytes())

    latencies, lost, extra = [], 0, 0
    for event_id, (committed, _ticket, _owner, _kind) in written.items():
        arrivals = results.arrivals.get(event_id, [])
        if not arrivals:
            lost += 1
            continue
        extra += len(arrivals) - 1
        latencies.append((min(arrivals) - committed) * 1000)
    duplicates = results.duplicates_of(list(written))
    p99 = percentile(latencies, 0.99)
    rows = [
        [
            f"{args.subscribers:,}",
            f"{args.rate:,.0f}/s × {args.seconds:g} s",
            f"{done['events']:,}",
            f"{done['events'] / done['seconds']:,.0f}/s",
            f"{len(latencies):,}",
            f"{lost:,}",
            duplicates,
            extra,
            *latency_cells(latencies),
            " + ".join(f"{c * 1000 / max(1, done['events']):.2f}" for c in cpu),
            f"{done['cpu_seconds'] * 1000 / max(1, done['events']):.2f}",
            f"{results.cpu_seconds * 1e6 / max(1, results.received):.0f}",
        ]
    ]
    out = [
        table(
            "Two server processes, PostgreSQL + Redis: commit → deliver",
            [
                "subscribers",
                "asked",
                "events written",
                "written rate",
                "delivered",
                "lost",
                "duplicated",
                "to a 2nd socket",
                "p50 ms",
                "p99 ms",
                "max ms",
                "server CPU ms / event (A + B)",
                "writer CPU ms / event",
                "client CPU µs / message",
            ],
            rows,
        ),
        table(
            "Targets",
            ["figure", "target", "measured", "met"],
            [
                [
                    "p99 commit → deliver",
                    f"≤ {TARGET_P99_MS:.0f} ms",
                    f"{p99:.1f} ms",
                    "yes" if p99 <= TARGET_P99_MS else "NO",
                ],
                ["lost", "0", str(lost), "yes" if lost == 0 else "NO"],
                ["duplicated", "0", str(duplicates), "yes" if duplicates == 0 else "NO"],
            ],
        ),
        f"{machine()}; servers on cores {args.server_cpus}, writer and clients on core {LOAD_CPU}; "
        f"writer concurrency {args.concurrency}; client engine {args.engine}.",
    ]
    if done["error_count"] or results.error_count or results.closed:
        out.append(
            f"- writer errors {done['error_count']}: {done['errors']}; client errors "
            f"{results.error_count}: {results.errors[:3]}; sockets closed {results.closed}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["writer"]:
        parser = argparse.ArgumentParser(prog="bench.crossprocess writer")
        parser.add_argument("--database-url", required=True)
        parser.add_argument("--broker-url", required=True)
        parser.add_argument("--customers", type=int, required=True)
        parser.add_argument("--rate", type=float, required=True, help="warm-up pace")
        parser.add_argument("--concurrency", type=int, default=16)
        parser.add_argument("--out", required=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_writer(parser.parse_args(argv[1:])))
        return
    parser = argparse.ArgumentParser(prog="bench.crossprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="customers, one socket each")
    parser.add_argument("--rate", type=float, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16, help="writer's calls in flight")
    parser.add_argument("--server-cpus", default="0,0", help="cores of server A and B")
    add_database_url_option(parser)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    parser.add_argument("--engine", choices=("raw", "aiohttp"), default="raw", help="client")
    args = parser.parse_args(argv)
    report_on_new_postgres(args.database_url, lambda url: scenario(args, url))


if __name__ == "__main__":
    main()
