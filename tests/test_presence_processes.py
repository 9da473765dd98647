"""Presence across two server processes sharing PostgreSQL and Redis: viewers on one process are
seen from the other as they come and go, when their client is killed, and when the process that
held them is killed (their sessions lapse within the heartbeat)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import Backend
from tests.fixtures import CREATE
from tests.test_live_processes import (
    ServerProcess,
    connect_url,
    post_gql,
    server_processes,
    token,
)
from tests.test_presence import PRESENCE, TYPING, kill, people

HEARTBEAT = "1"  # seconds: a killed process's viewers lapse this soon


async def watch(
    session: aiohttp.ClientSession, server: ServerProcess, sub: str, ticket_id: str
) -> tuple[Any, str, dict[str, Any]]:
    socket = await connect_url(session, server.graphql, {"token": token(sub, "agent")})
    op = await socket.subscribe(PRESENCE, {"id": ticket_id})
    return socket, op, (await socket.next_data(op, within=10))["ticketPresence"]


async def until_people(socket: Any, op: str, wanted: list[tuple[str, bool]]) -> None:
    """Read pushes until the list is `wanted` (a lapse may first show as other changes)."""
    while True:
        data = await socket.next_data(op, within=10)
        if people(data["ticketPresence"]) == wanted:
            return


async def test_presence_is_shared_by_processes(backend: Backend, tmp_path: Path) -> None:
    env = {"HELPDESK_PRESENCE_HEARTBEAT_SECONDS": HEARTBEAT}
    async with (
        server_processes(backend, tmp_path, **env) as (a, b),
        aiohttp.ClientSession() as session,
    ):
        created = await post_gql(
            session,
            a.graphql,
            CREATE,
            {"input": {"categorySlug": "app-help", "question": "Who is there?"}},
            token("cora"),
        )
        ticket_id = created["createTicket"]["ticket"]["id"]

        watcher, op, seen = await watch(session, a, "agent-a", ticket_id)
        assert people(seen) == [("agent-a", False)]

        # Comes and goes normally, on the other process.
        other, other_op, seen = await watch(session, b, "agent-b", ticket_id)
        assert people(seen) == [("agent-a", False), ("agent-b", False)]
        await until_people(watcher, op, [("agent-a", False), ("agent-b", False)])
        await other.ws.send_json({"id": other_op, "type": "complete"})
        await until_people(watcher, op, [("agent-a", False)])
        await other.close()

        # Typing on B shows on A.
        await post_gql(
            session,
            b.graphql,
            TYPING,
            {"i": {"ticketId": ticket_id}},
            token("agent-b", "agent"),
        )
        await until_people(watcher, op, [("agent-a", False), ("agent-b", True)])

        # A client killed on B.
        killed, _, _ = await watch(session, b, "agent-c", ticket_id)
        await until_people(watcher, op, [("agent-a", False), ("agent-b", True), ("agent-c", False)])
        kill(killed)
        # (agent-b's typing may lapse first or after: wait for agent-c gone)
        while True:
            data = await watcher.next_data(op, within=10)
            if "agent-c" not in [p for p, _ in people(data["ticketPresence"])]:
                break

        # Process B killed while agent-d views there: lapses within the heartbeat.
        await watch(session, b, "agent-d", ticket_id)
        while True:
            data = await watcher.next_data(op, within=10)
            if "agent-d" in [p for p, _ in people(data["ticketPresence"])]:
                break
        os.kill(b.process.pid, signal.SIGKILL)
        await until_people(watcher, op, [("agent-a", False)])
        await watcher.close()
