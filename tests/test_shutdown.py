"""SIGTERM: sockets closed with 1001, HTTP subscription streams ended, the request in flight
answered, the process gone in time.

The real `helpdesk serve` process, on SQLite: the test holds the database's write lock so that a
mutation is still running when the signal arrives, then lets it finish.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server import auth
from tests.conftest import REPO, TEST_SECRET
from tests.fixtures import CREATE
from tests.test_operations import closed_port

SHUTDOWN_TIMEOUT = 5  # HELPDESK_SHUTDOWN_TIMEOUT for the server under test
BOUND = SHUTDOWN_TIMEOUT + 5  # the documented bound: the deadline plus the grace for the rest


def helpdesk(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


def serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(helpdesk("serve"), env=env, cwd=REPO, stderr=subprocess.DEVNULL)


async def until_listening(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(200):
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "HELPDESK_PORT": str(closed_port()),
        "HELPDESK_DATABASE_URL": f"sqlite://{tmp_path}/helpdesk.sqlite3",
        "HELPDESK_DATA_DIR": str(tmp_path / "files"),
        "HELPDESK_JWT_SECRET": TEST_SECRET,
        "HELPDESK_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    subprocess.run(helpdesk("migrate"), env=env, cwd=REPO, check=True, timeout=60)
    yield env


async def test_sigterm_closes_sockets_answers_in_flight_requests_and_exits(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{server_env['HELPDESK_PORT']}"
    token = auth.encode(sub="ann", role="customer", name="Ann", secret=TEST_SECRET)
    headers = {"Authorization": f"Bearer {token}"}
    server = serve(server_env)
    try:
        async with aiohttp.ClientSession() as session:
            await until_listening(session, base)
            ws = await session.ws_connect(f"{base}/graphql", protocols=["graphql-transport-ws"])
            await ws.send_json({"type": "connection_init", "payload": {"token": token}})
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { ticketEvents { id } }"},
                }
            )
            stream = await session.post(
                f"{base}/graphql",
                json={"query": "subscription { ticketEvents { id } }"},
                headers={**headers, "Accept": "text/event-stream"},
            )
            assert stream.status == 200
            assert stream.headers["Content-Type"] == "text/event-stream"
            # Sign in once (the user row), then hold the write lock: the next write waits.
            async with session.post(
                f"{base}/graphql", json={"query": "{ me { id } }"}, headers=headers
            ) as response:
                assert response.status == 200
            lock = sqlite3.connect(server_env["HELPDESK_DATABASE_URL"][len("sqlite://") :])
            lock.execute("BEGIN EXCLUSIVE")
            variables = {"input": {"categorySlug": "app-help", "question": "In flight"}}
            in_flight = asyncio.ensure_future(
                session.post(
                    f"{base}/graphql",
                    json={"query": CREATE, "variables": variables},
                    headers=headers,
                )
            )
            # A client that stopped reading, and a request whose body never ends: neither
            # may hold the exit beyond the deadline.
            stalled = await session.ws_connect(
                f"{base}/graphql", protocols=["graphql-transport-ws"], autoclose=False
            )
            await stalled.send_json({"type": "connection_init", "payload": {"token": token}})
            host, port = base.removeprefix("http://").split(":")
            _, trickle = await asyncio.open_connection(host, int(port))
            trickle.write(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"query":'
            )
            await trickle.drain()
            await asyncio.sleep(0.5)  # the mutation reaches the server and waits for the lock
            assert not in_flight.done()
            server.send_signal(signal.SIGTERM)

            closing = await ws.receive(timeout=BOUND)
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.data == 1001
            # The stream ends without `complete`: its client reconnects (and resumes with `after`).
            rest = await asyncio.wait_for(stream.content.read(), BOUND)
            assert b"complete" not in rest
            stream.close()
            lock.rollback()  # the mutation may go on
            lock.close()
            response = await asyncio.wait_for(in_flight, BOUND)
            body = await response.json()
            assert response.status == 200, body
            assert body["data"]["createTicket"]["errors"] == []
            await ws.close()
            assert server.wait(timeout=BOUND) == 0
            trickle.close()
            await stalled.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


async def test_sigterm_exits_in_time_while_the_database_is_unreachable(
    server_env: dict[str, str],
) -> None:
    env = {
        **server_env,
        "HELPDESK_DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/nothing",
    }
    base = f"http://127.0.0.1:{env['HELPDESK_PORT']}"
    token = auth.encode(sub="ann", role="customer", name="Ann", secret=TEST_SECRET)
    server = serve(env)
    try:
        async with aiohttp.ClientSession() as session:
            await until_listening(session, base)
            async with session.post(
                f"{base}/graphql",
                json={"query": "{ me { id } }"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                assert response.status == 503
            server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=BOUND) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
