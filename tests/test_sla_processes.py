"""SLA breaches with real server processes on PostgreSQL: two processes scanning the same due
times write one SLA_BREACHED event per target, and due times that passed while no process ran
are breached once one starts again."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from models import db
from tests.conftest import Backend, _empty_tables
from tests.fixtures import CREATE, given_first_response_due
from tests.test_live_processes import ServerProcess, post_gql, start_server, stop, tail, token

TICKETS = 20  # due at the same instant: both processes reach for them at once
SCAN_SECONDS = "0.05"
LOG = """query($after: String, $first: Int) {
  ticketEvents(after: $after, first: $first) {
    edges { node { kind slaTarget at ticket { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
STATS = "{ ticketStats { slaBreachedActive } }"
METRIC = re.compile(r"^helpdesk_sla_(scans|breaches)_total (\S+)$", re.M)
AGENT = token("agent-sla", "agent")


async def metrics(session: aiohttp.ClientSession, server: ServerProcess) -> dict[str, float]:
    async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
        return {name: float(value) for name, value in METRIC.findall(await response.text())}


async def after_two_scans(session: aiohttp.ClientSession, servers: list[ServerProcess]) -> None:
    """Return once every server has completed two whole scans since the call."""
    start = [(await metrics(session, s))["scans"] for s in servers]
    for server, before in zip(servers, start, strict=True):
        for _ in range(10_000):
            if (await metrics(session, server))["scans"] >= before + 2:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"server {server.name} stopped scanning:\n{tail(server.log)}")


async def wait_breached(session: aiohttp.ClientSession, url: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline:
        data = await post_gql(session, url, STATS, {}, AGENT)
        if data["ticketStats"]["slaBreachedActive"] >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} tickets breached within 30 s")


async def breach_events(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    while True:
        data = (await post_gql(session, url, LOG, {"after": after, "first": 100}, AGENT))[
            "ticketEvents"
        ]
        found += [e["node"] for e in data["edges"] if e["node"]["kind"] == "SLA_BREACHED"]
        if not data["pageInfo"]["hasNextPage"]:
            return found
        after = data["pageInfo"]["endCursor"]


async def test_breaches_fire_once_across_processes_and_after_a_restart(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.name == "embedded":
        pytest.skip("several processes need the services backend (PostgreSQL + Redis)")
    env = {"HELPDESK_SLA_SCAN_SECONDS": SCAN_SECONDS, "HELPDESK_RATE_LIMIT_PER_MINUTE": "0"}
    servers: list[ServerProcess] = []
    async with db.connected(backend.database_url):
        await _empty_tables()
    try:
        servers += [
            await start_server(name, backend, tmp_path / f"{name}.log", **env) for name in "AB"
        ]
        a, b = servers
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(a.wait_healthy(session), b.wait_healthy(session))
            customer = token("cora")
            tickets = []
            for i in range(2 * TICKETS):
                question = {"categorySlug": "app-help", "question": f"Due soon {i}"}
                created = await post_gql(session, a.graphql, CREATE, {"input": question}, customer)
                tickets.append(created["createTicket"]["ticket"])
            racing, while_down = tickets[:TICKETS], tickets[TICKETS:]

            # Both processes scan every 50 ms; the first half falls due at one instant.
            due = datetime.now(UTC) + timedelta(seconds=1)
            async with db.connected(backend.database_url):
                for ticket in racing:
                    await given_first_response_due(ticket["number"], due)
            await wait_breached(session, a.graphql, TICKETS)
            await after_two_scans(session, servers)

            events = await breach_events(session, b.graphql)
            per_ticket = Counter(e["ticket"]["id"] for e in events)
            assert per_ticket == {t["id"]: 1 for t in racing}
            assert {e["slaTarget"] for e in events} == {"FIRST_RESPONSE"}
            shares = [(await metrics(session, s))["breaches"] for s in servers]
            assert sum(shares) == TICKETS
            late = max(datetime.fromisoformat(e["at"]) for e in events) - due
            print(f"breaches by process A, B: {shares}; last one {late.total_seconds():.2f} s late")

            # Nothing runs while the second half falls due.
            await asyncio.gather(*(stop(s.process) for s in servers))
            async with db.connected(backend.database_url):
                for ticket in while_down:
                    await given_first_response_due(ticket["number"], datetime.now(UTC))
            restarted = await start_server("A2", backend, tmp_path / "a2.log", **env)
            servers.append(restarted)
            await restarted.wait_healthy(session)
            await wait_breached(session, restarted.graphql, 2 * TICKETS)
            await after_two_scans(session, [restarted])

            events = await breach_events(session, restarted.graphql)
            per_ticket = Counter(e["ticket"]["id"] for e in events)
            assert per_ticket == {t["id"]: 1 for t in tickets}
    finally:
        await asyncio.gather(*(stop(s.process) for s in servers))
        for server in servers:
            print(f"--- server {server.name} (exit {server.process.returncode}) ---")
            print(tail(server.log))
        async with db.connected(backend.database_url):
            await _empty_tables()  # tests with real processes expect a short event log
