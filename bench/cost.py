"""Query cost: the most expensive operations the limits allow, against the nested query they refuse.

On the seeded demo data (SQLite, `helpdesk seed-demo`) plus one customer ticket with 29 events,
two servers run side by side: one as deployed (the node limit, deadline and response cap at their
defaults) and one with the limits set out of reach, which answers the nested
`ticket { events { ticket { events … } } }` query as the code did before the limit. For each
operation: the node count the limit computes, time (median of `--runs`), the server's peak RSS
growth and the response size; then `--parallel` of the most expensive allowed operation at once
while `/healthz` is polled, and one nested query on the unlimited server while it is polled.

    .venv/bin/python -m bench.cost [--tickets 2000] [--runs 5] [--parallel 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import (
    PYTHON,
    free_port,
    helpdesk_cli,
    helpdesk_env,
    machine,
    percentile,
    process,
    sqlite_database,
    table,
)
from server import auth
from server.config import DEV_JWT_SECRET

NESTED = (
    '{ ticket(id: "%s") { events { ticket { events { ticket { events { ticket { events { id } } }'
    " } } } } } }"
)
# The largest of each shape the default limit (10,000 nodes) lets through.
ALLOWED = {
    "page: tickets(first: 100), 47 events each": (
        "agent",
        "{ tickets(first: 100) { edges { node { id number summary question status createdAt"
        " owner { id name } category { slug name } events(first: 47) { id kind at actor { name }"
        " } } } } }",
    ),
    "nested, cut to fit: events(100) > ticket > events(48)": (
        "customer",
        '{ ticket(id: "%s") { events(first: 100) { actor { name } ticket { number'
        " events(first: 48) { id kind at actor { name } } } } } }",
    ),
    "conversation: messages(100) and timeline(100)": (
        "customer",
        '{ ticket(id: "%s") { question messages(first: 100) { body author { name }'
        " attachments { id } } timeline(first: 100) { __typename ... on Message { body }"
        " ... on TicketEvent { kind at } } } }",
    ),
}
OUT_OF_REACH = {
    "HELPDESK_MAX_NODES": str(10**15),
    "HELPDESK_OPERATION_TIMEOUT": "3600",
    "HELPDESK_MAX_RESPONSE_BYTES": str(10**12),
}


def peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


def token(sub: str, role: str) -> str:
    return auth.encode(sub=sub, role=role, name=sub, secret=DEV_JWT_SECRET, ttl_seconds=3600)


async def post(
    session: aiohttp.ClientSession, url: str, query: str, bearer: str
) -> tuple[float, int, dict[str, Any]]:
    started = time.perf_counter()
    async with session.post(
        f"{url}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=aiohttp.ClientTimeout(total=600),
    ) as response:
        raw = await response.read()
    elapsed = time.perf_counter() - started
    return elapsed, len(raw), orjson.loads(raw)


async def poll_health(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, samples: list[float]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            async with session.get(
                f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=120)
            ) as response:
                await response.read()
        except TimeoutError:
            pass
        samples.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.05)


async def busy_ticket(session: aiohttp.ClientSession, url: str, events: int) -> tuple[str, str]:
    """A demo customer's ticket, replied to until it has `events` events."""
    agent = token("bench-agent", "agent")
    query = (
        "{ tickets(first: 1, filter: {status: [OPEN]}) { edges { node { id owner { sub } } } } }"
    )
    _, _, body = await post(session, url, query, agent)
    node = body["data"]["tickets"]["edges"][0]["node"]
    ticket_id, owner = node["id"], node["owner"]["sub"]
    customer = token(owner, "customer")
    reply = (
        'mutation { replyToTicket(input: {ticketId: "%s", body: "Still happening: see the log"})'
        " { errors { code } } }"
    )
    for _ in range(events - 1):
        await post(session, url, reply % ticket_id, customer)
    return ticket_id, customer


def nodes_of(body: dict[str, Any]) -> str:
    for error in body.get("errors", []):
        extensions = error.get("extensions", {})
        if extensions.get("code") == "QUERY_LIMIT_EXCEEDED":
            return f"refused ({extensions.get('limit')}: {extensions.get('nodes', '')})"
    return "answered"


async def measure(
    session: aiohttp.ClientSession, url: str, pid: int, query: str, bearer: str, runs: int
) -> list[object]:
    before = peak_kb(pid)
    times = []
    size = 0
    body: dict[str, Any] = {}
    for _ in range(runs):
        elapsed, size, body = await post(session, url, query, bearer)
        times.append(elapsed * 1000)
    grown = (peak_kb(pid) - before) / 1024
    return [nodes_of(body), f"{statistics.median(times):.1f}", f"{grown:.1f}", f"{size:,}"]


async def count(session: aiohttp.ClientSession, url: str, query: str, bearer: str) -> str:
    """The node count the limit computes, read off a server whose limit is 1."""
    _, _, body = await post(session, url, query, bearer)
    for error in body.get("errors", []):
        if error.get("extensions", {}).get("limit") == "nodes":
            return f"{error['extensions']['nodes']:,}"
    return "?"


async def run(args: argparse.Namespace) -> None:
    with sqlite_database() as database:
        helpdesk_cli("migrate", database_url=database)
        helpdesk_cli("seed-demo", "--tickets", str(args.tickets), database_url=database)
        command = [str(Path(PYTHON).parent / "helpdesk"), "serve"]
        ports = {name: free_port() for name in ("limited", "unlimited", "counting")}
        envs = {
            "limited": helpdesk_env(ports["limited"], database),
            "unlimited": {**helpdesk_env(ports["unlimited"], database), **OUT_OF_REACH},
            "counting": {**helpdesk_env(ports["counting"], database), "HELPDESK_MAX_NODES": "1"},
        }
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        with (
            process(command, env=envs["limited"], ready_url=f"{urls['limited']}/healthz") as lim,
            process(
                command, env=envs["unlimited"], ready_url=f"{urls['unlimited']}/healthz"
            ) as unl,
            process(command, env=envs["counting"], ready_url=f"{urls['counting']}/healthz", cpu=1),
        ):
            async with aiohttp.ClientSession() as session:
                ticket_id, customer = await busy_ticket(session, urls["limited"], 29)
                bearers = {"customer": customer, "agent": token("bench-agent", "agent")}
                rows = []
                for name, (role, template) in ALLOWED.items():
                    query = template % ticket_id if "%s" in template else template
                    nodes = await count(session, urls["counting"], query, bearers[role])
                    figures = await measure(
                        session, urls["limited"], lim.pid, query, bearers[role], args.runs
                    )
                    rows.append([f"{name} (limits on)", nodes, *figures])
                nested = NESTED % ticket_id
                nodes = await count(session, urls["counting"], nested, customer)
                figures = await measure(session, urls["limited"], lim.pid, nested, customer, 1)
                rows.append(["nested query, 29 events (limits on)", nodes, *figures])
                # The most expensive allowed operation: by the time measured above.
                heaviest = max(range(len(ALLOWED)), key=lambda i: float(str(rows[i][3])))
                heavy_name, (heavy_role, heavy_template) = list(ALLOWED.items())[heaviest]
                heavy = heavy_template % ticket_id if "%s" in heavy_template else heavy_template

                health: list[float] = []
                stop = asyncio.Event()
                poller = asyncio.create_task(poll_health(session, urls["limited"], stop, health))
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        post(session, urls["limited"], heavy, bearers[heavy_role])
                        for _ in range(args.parallel)
                    )
                )
                parallel_s = time.perf_counter() - started
                stop.set()
                await poller

                nested_health: list[float] = []
                stop = asyncio.Event()
                poller = asyncio.create_task(
                    poll_health(session, urls["unlimited"], stop, nested_health)
                )
                started = time.perf_counter()
                figures = await measure(session, urls["unlimited"], unl.pid, nested, customer, 1)
                nested_s = time.perf_counter() - started
                stop.set()
                await poller
                rows.append(
                    ["nested query, 29 events (limits out of reach: before)", nodes, *figures]
                )

    print(machine())
    print(f"demo data: {args.tickets} tickets; the nested query's ticket has 29 events\n")
    print(
        table(
            "Query cost: operations and what they cost",
            [
                "operation",
                "nodes (computed)",
                "outcome",
                "time ms (median)",
                "peak RSS growth MB",
                "response bytes",
            ],
            rows,
        )
    )
    limited_ms = float(str(rows[heaviest][3]))
    before_ms = float(str(rows[-1][3]))
    print(f"nested query before / heaviest allowed now: {before_ms / limited_ms:.0f}x the time\n")
    print(
        table(
            "/healthz while the server works",
            ["load", "wall s", "/healthz polls", "p50 ms", "p99 ms", "max ms"],
            [
                [
                    f"{args.parallel} x {heavy_name} in parallel (limits on)",
                    f"{parallel_s:.2f}",
                    len(health),
                    f"{percentile(health, 0.5):.1f}",
                    f"{percentile(health, 0.99):.1f}",
                    f"{max(health):.1f}",
                ],
                [
                    "1 nested query (limits out of reach: before)",
                    f"{nested_s:.2f}",
                    len(nested_health),
                    f"{percentile(nested_health, 0.5):.1f}",
                    f"{percentile(nested_health, 0.99):.1f}",
                    f"{max(nested_health):.1f}",
                ],
            ],
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
