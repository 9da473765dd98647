"""Four processes behind HAProxy: subscribers spread by least connections, one process killed.

HAProxy (Debian's 2.6, installed with apt-get when missing) runs `deploy/haproxy.cfg` in front of
`--processes` (4) `helpdesk serve` processes on a fresh PostgreSQL database and Redis. The file is
the compose deployment's own, rendered for local processes by `local_config`: the `resolvers`
section (Docker's DNS) is dropped, the `server-template` line becomes one `server` line per
process on 127.0.0.1 with the template's own settings (`check`; `inter`, `fall` and `rise` come
from `default-server`), and the frontend binds a free loopback port. Every other line (timeouts,
`balance leastconn`, the `/readyz` check, retries) is the repository's, so the two cannot diverge.

`--subscribers` (4,000) customers each own one ticket and follow `ticketEvents` of their tickets,
all through the balancer, which spreads them over the processes (the table says how many landed
on each). The writer of bench/crossprocess.py (the project's service functions, straight on the
database, publishing to Redis after commit) toggles the tickets' statuses at `--rate` (200) events
per second for `--seconds` (30): every event is for exactly one subscriber, so the deliveries
expected are exactly the events written. At a third of the run the process holding the most
subscribers is killed with SIGKILL. Its sockets close; each of its clients opens a new one through
the balancer at once and subscribes with `ticketEvents(after: <the last event id it got>)`, so
the log replays what it missed (see `--reconnect` in bench/ws_clients.py). Latency is commit →
first delivery, replays included; reconnect time is from the socket's close to the new
subscription sent (after the new socket's `connection_ack`).

Each process's database pool is `--pool` (6) connections instead of the default 20, and the
writer's is its `--concurrency` (16): four times 20, the writer's 20 and the other clients of a
shared PostgreSQL would pass its default limit of 100 connections, and a sign-in refused a
connection closes its socket with 1013 (try again).

Core 0: the server processes and HAProxy (the server side, one core as in the other scenarios).
Core 1: the writer and the clients. PostgreSQL and Redis are not pinned.

    .venv/bin/python -m bench.balancer --subscribers 400 --seconds 10     # a short trial
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    DEFAULT_REDIS,
    LOAD_CPU,
    PYTHON,
    ROOT,
    SERVER_CPU,
    add_database_url_option,
    free_port,
    helpdesk_server,
    machine,
    percentile,
    process,
    report_on_new_postgres,
    table,
)
from bench.crossprocess import CUSTOMERS
from bench.ws_clients import Child, Clients, cpu_ticks, latency_cells

HAPROXY_FILE = ROOT / "deploy" / "haproxy.cfg"
# `after` is declared so that a reconnecting client can resume from its last event.
EVENTS = (
    "subscription ($after: String) { ticketEvents(after: $after) { id kind ticket { id } at } }"
)
SECTIONS = ("global", "defaults", "frontend", "backend", "listen", "resolvers", "peers")


def local_config(text: str, *, port: int, servers: list[int]) -> str:
    """The repository's HAProxy file for local processes: the frontend on 127.0.0.1:`port`, one
    `server` line per port in `servers` instead of the `server-template` (and no `resolvers`)."""
    out: list[str] = []
    skipping = False
    binds = templates = 0
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] in SECTIONS and not line[0].isspace():
            skipping = words[0] == "resolvers"
        if skipping:
            continue
        if words[:1] == ["bind"]:
            binds += 1
            out.append(f"    bind 127.0.0.1:{port}")
        elif words[:1] == ["server-template"]:
            templates += 1
            prefix, params = words[1], words[4:]
            kept: list[str] = []
            position = 0
            while position < len(params):
                if params[position] in ("resolvers", "init-addr"):
                    position += 2  # Docker's DNS only
                    continue
                kept.append(params[position])
                position += 1
            for number, server_port in enumerate(servers, start=1):
                out.append(f"    server {prefix}{number} 127.0.0.1:{server_port} {' '.join(kept)}")
        else:
            out.append(line)
    if (binds, templates) != (1, 1):
        raise ValueError(f"{HAPROXY_FILE}: expected one bind and one server-template line")
    return "\n".join(out) + "\n"


def ensure_haproxy() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing haproxy (Debian package)", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "haproxy"],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if not found:
        raise SystemExit("bench needs haproxy: `sudo apt-get install haproxy`")
    return found


def websockets_open(base: str) -> int:
    """The process's open WebSockets, from its /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r"^helpdesk_websocket_connections (\S+)$", text, re.M)
    if found is None:
        raise RuntimeError(f"{base}/metrics has no helpdesk_websocket_connections")
    return int(float(found[1]))


async def spread(bases: list[str], alive: list[bool]) -> list[int | None]:
    return [
        await asyncio.to_thread(websockets_open, base) if up else None
        for base, up in zip(bases, alive, strict=True)
    ]


async def scenario(args: argparse.Namespace, url: str) -> str:
    """On a migrated database `url`."""
    binary = ensure_haproxy()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as folder:
        events_file = Path(folder) / "events.json"
        writer_url = f"{url}?maxsize={args.concurrency}"  # one connection per call in flight
        command = [PYTHON, "-m", "bench.crossprocess", "writer", "--database-url", writer_url]
        command += ["--broker-url", args.redis, "--customers", str(args.subscribers)]
        command += ["--rate", str(args.rate), "--concurrency", str(args.concurrency)]
        command += ["--out", str(events_file)]
        async with Child.start(command, name="writer", cpu=LOAD_CPU) as writer:
            ready = await writer.receive(1200)
            print(f"writer: {ready['tickets']} tickets in {ready['seconds']:.1f} s", flush=True)
            with contextlib.ExitStack() as stack:
                pooled = f"{url}?maxsize={args.pool}"
                servers = [
                    stack.enter_context(helpdesk_server(pooled, args.redis, cpu=SERVER_CPU))
                    for _ in range(args.processes)
                ]
                bases = [base for base, _ in servers]
                port = free_port()
                config = Path(folder) / "haproxy.cfg"
                config.write_text(
                    local_config(
                        HAPROXY_FILE.read_text(encoding="utf-8"),
                        port=port,
                        servers=[int(base.rsplit(":", 1)[1]) for base in bases],
                    ),
                    encoding="utf-8",
                )
                balancer = stack.enter_context(
                    process(
                        [binary, "-db", "-f", str(config)],
                        cpu=SERVER_CPU,
                        ready_url=f"http://127.0.0.1:{port}/balancer/healthz",
                    )
                )
                async with Clients.start(
                    [f"ws://127.0.0.1:{port}/graphql"],
                    args.subscribers,
                    mint=f"customer:{CUSTOMERS}:{args.subscribers}",
                    query=EVENTS,
                    reconnect=True,
                ) as clients:
                    connected = await clients.ready(600)
                    alive = [True] * len(servers)
                    landed = await spread(bases, alive)

                    async def warm_up(_: int) -> None:
                        answer = await writer.ask("warmup", 1200)
                        assert answer["type"] == "warmed", answer

                    rounds = await clients.warm_up(warm_up, rounds=3)
                    print(
                        f"{args.subscribers} subscribers in {connected['seconds']} s "
                        f"({' / '.join(str(n) for n in landed)}), live after {rounds} warm-up "
                        f"round(s); writing {args.rate:g}/s for {args.seconds:g} s",
                        flush=True,
                    )
                    await asyncio.sleep(1.0)
                    victim = max(range(len(servers)), key=lambda i: landed[i] or 0)

                    pids = [child.pid for _, child in servers] + [balancer.pid]
                    cpu = {pid: cpu_ticks(pid) for pid in pids}
                    started = time.time()
                    killed_at = 0.0

                    async def kill() -> None:
                        nonlocal killed_at
                        await asyncio.sleep(args.seconds / 3)
                        pid = servers[victim][1].pid
                        cpu[pid] = cpu_ticks(pid) - cpu[pid]
                        os.kill(pid, signal.SIGKILL)
                        killed_at = time.time()
                        alive[victim] = False

                    killer = asyncio.create_task(kill())
                    done = await writer.ask(
                        f"run {args.rate} {args.seconds}", args.seconds * 10 + 60
                    )
                    await killer
                    status = await clients.wait_quiet(quiet=3.0, within=120)
                    for pid in pids:
                        if pid != servers[victim][1].pid:
                            cpu[pid] = cpu_ticks(pid) - cpu[pid]
                    # Up to the last arrival: the quiet wait at the end is no work.
                    wall = time.time() - started - 3.0
                    after = await spread(bases, alive)
                    results = await clients.stop()
            written: dict[str, list[Any]] = orjson.loads(events_file.read_bytes())

    latencies, lost = [], 0
    phases: dict[bool, list[float]] = {False: [], True: []}  # committed after the kill -> ms
    written_in: dict[bool, int] = {False: 0, True: 0}
    for event_id, (committed, _ticket, _owner, _kind) in written.items():
        arrivals = results.arrivals.get(event_id, [])
        if not arrivals:
            lost += 1
            continue
        latencies.append((min(arrivals) - committed) * 1000)
        phases[committed >= killed_at].append(latencies[-1])
    for committed, *_ in written.values():
        written_in[committed >= killed_at] += 1
    last_commit = max((committed for committed, *_ in written.values()), default=killed_at)
    spans = {False: killed_at - started, True: max(1e-9, last_commit - killed_at)}
    duplicates = results.duplicates_of(list(written))
    reconnects = [s * 1000 for s in results.reconnect_seconds]
    rows = [
        [
            f"{args.subscribers:,}",
            str(args.processes),
            f"{args.rate:,.0f}/s × {args.seconds:g} s",
            f"{done['events']:,}",
            f"{done['events'] / done['seconds']:,.0f}/s",
            f"{len(written):,}",
            f"{len(latencies):,}",
            f"{lost:,}",
            duplicates,
            *latency_cells(latencies),
            f"{len(reconnects):,}",
            f"{percentile(reconnects, 0.5):.0f}" if reconnects else "-",
            f"{max(reconnects):.0f}" if reconnects else "-",
        ]
    ]
    by_phase = [
        [
            label,
            f"{written_in[after]:,}",
            f"{written_in[after] / spans[after]:,.0f}/s",
            *latency_cells(phases[after]),
        ]
        for label, after in (("before the kill", False), ("after the kill", True))
    ]
    server_cpu = sum(cpu.values())
    where = [
        [
            f"{number}{' (killed)' if number - 1 == victim else ''}",
            f"{before:,}",
            "-" if now is None else f"{now:,}",
        ]
        for number, (before, now) in enumerate(zip(landed, after, strict=True), start=1)
    ]
    out = [
        table(
            f"{args.processes} processes behind HAProxy, one killed at {args.seconds / 3:.0f} s: "
            "commit → deliver",
            [
                "subscribers",
                "processes",
                "asked",
                "events written",
                "written rate",
                "deliveries expected",
                "delivered",
                "lost",
                "duplicated",
                "p50 ms",
                "p99 ms",
                "max ms",
                "clients reconnected",
                "reconnect p50 ms",
                "reconnect max ms",
            ],
            rows,
        ),
        table(
            "Before and after the kill",
            ["events committed", "events", "written rate", "p50 ms", "p99 ms", "max ms"],
            by_phase,
        ),
        f"Core 0 (servers and HAProxy) was {server_cpu / wall:.0%} busy with them over the "
        f"{wall:.0f} s from the run's start to its last delivery; HAProxy's share "
        f"{cpu[balancer.pid]:.1f} s of {server_cpu:.1f} s. The writer used "
        f"{done['cpu_seconds'] * 1000 / max(1, done['events']):.2f} ms of CPU per event over "
        f"{done['seconds']:.0f} s.\n",
        table(
            "Subscribers per process (leastconn)",
            ["process", "after connecting", "at the end"],
            where,
        ),
        f"{machine()}; the {args.processes} server processes (database pool {args.pool} each) "
        f"and HAProxy on core {SERVER_CPU}, writer and clients on core {LOAD_CPU}; writer "
        f"concurrency {args.concurrency}.",
    ]
    failed = results.reconnect_failed
    if done["error_count"] or results.error_count or failed:
        out.append(
            f"- writer errors {done['error_count']}: {done['errors']}; client errors "
            f"{results.error_count}: {results.errors[:3]}; sockets closed {results.closed}; "
            f"reconnections that failed {failed}; last status {status}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="bench.balancer", description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=4000, help="customers, one socket each")
    parser.add_argument("--processes", type=int, default=4, help="helpdesk serve processes")
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=16, help="writer's calls in flight")
    parser.add_argument(
        "--pool",
        type=int,
        default=6,
        help="database connections per process (`?maxsize=`): four of the default 20, the "
        "writer's and the machine's other clients would pass PostgreSQL's 100",
    )
    add_database_url_option(parser)
    parser.add_argument("--redis", default=DEFAULT_REDIS)
    args = parser.parse_args(argv)
    report_on_new_postgres(args.database_url, lambda url: scenario(args, url))


if __name__ == "__main__":
    main()
