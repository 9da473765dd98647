"""A hung Redis (stopped, not dead) never holds a write, and readiness answers JSON promptly.

Each test runs a Redis of its own as broker and rate limiter and stops it with SIGSTOP: the
kernel still accepts connections, nothing answers. Writes go through (the rate limiter fails
open, the publish gives up), subscribers get the event from the log, /readyz says 503 in JSON.
The bounds asserted are generous correctness bounds (the unfixed server took about 10 s per
write and 5 s for a plain-text 500), not performance targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from models import db
from tests.conftest import IN_CI, Api, Backend, serve
from tests.fixtures import create_ticket, free_port
from tests.ws import connect

BOUND = 3.0  # seconds; a write that waits on Redis took 10


@dataclass
class RedisProcess:
    url: str
    pid: int

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def own_redis(tmp_path: Any) -> Iterator[RedisProcess]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is needed for the hung-Redis tests")
        pytest.skip("redis-server not installed: the hung-Redis tests need one of their own")
    port = free_port()
    options = ["--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(tmp_path)]
    child = subprocess.Popen(
        [binary, "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers_ping(port):
            assert child.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        yield RedisProcess(f"redis://127.0.0.1:{port}/0", child.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait()


@pytest.fixture
async def hung_api(backend: Backend, own_redis: RedisProcess) -> AsyncIterator[Api]:
    """The app with the test's Redis as broker and as rate limiter (the limit is on)."""
    async with serve(backend, broker_url=own_redis.url) as client:
        yield Api(client)


async def _timed(operation: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await asyncio.wait_for(operation, 30)
    return result, time.monotonic() - started


async def test_a_write_during_a_redis_hang_answers_promptly_and_is_delivered(
    hung_api: Api, own_redis: RedisProcess
) -> None:
    api = hung_api
    socket = await connect(api.client, {"token": api.token("hung-agent", "agent")})
    op_id = await socket.subscribe("subscription { ticketEvents { kind ticket { id } } }")
    healthy = await create_ticket(api, as_="hung-customer")
    assert (await socket.next_data(op_id))["ticketEvents"]["ticket"]["id"] == healthy["id"]

    own_redis.stop()
    try:
        first, first_took = await _timed(create_ticket(api, as_="hung-customer"))
        second, second_took = await _timed(create_ticket(api, as_="hung-customer"))
        # The log delivers what the broker could not carry.
        delivered = [await socket.next_data(op_id, within=10) for _ in range(2)]
    finally:
        own_redis.resume()

    assert first_took < BOUND and second_took < BOUND, (first_took, second_took)
    assert [d["ticketEvents"]["ticket"]["id"] for d in delivered] == [first["id"], second["id"]]
    await socket.close()


async def test_readyz_answers_json_503_while_redis_hangs_and_200_once_it_answers(
    hung_api: Api, own_redis: RedisProcess
) -> None:
    own_redis.stop()
    try:
        response, took = await _timed(hung_api.client.get("/readyz"))
        body = await response.json()
    finally:
        own_redis.resume()
    assert took < BOUND, took
    assert response.status == 503
    assert body == {"status": "unavailable", "database": True, "broker": False}

    response = await hung_api.client.get("/readyz")
    assert response.status == 200, await response.text()


async def test_readyz_answers_json_503_while_the_database_hangs(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    monkeypatch.setattr(db, "ping", hangs)
    response, took = await _timed(api.client.get("/readyz"))
    assert took < BOUND, took
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": False, "broker": True}
