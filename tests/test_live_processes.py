"""Live updates across real processes and failures: two servers sharing PostgreSQL and Redis, a
Redis restart in the middle of a stream of mutations, shutdown, and token expiry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from server import auth
from server.app import create_app
from services.events import EVENTS_CHANNEL
from tests.conftest import REPO, TEST_SECRET, Api, Backend, _empty_tables
from tests.fixtures import CREATE, REPLY, free_port, row_key
from tests.ws import PROTOCOL, Socket, connect

EVENTS = """subscription($ticketId: ID, $after: String) {
  ticketEvents(ticketId: $ticketId, after: $after) {
    id kind actor { sub } ticket { id } message { body internal }
  }
}"""
LOG = """query($after: String, $first: Int) {
  ticketEvents(after: $after, first: $first) {
    edges { cursor node { id kind } }
    pageInfo { hasNextPage endCursor }
  }
}"""

# The feed polls the event log every second; anything faster came through the broker.
POLL_SECONDS = 1.0


def token(sub: str, role: str = "customer", ttl: int = 3600) -> str:
    return auth.encode(sub=sub, role=role, name=sub.title(), secret=TEST_SECRET, ttl_seconds=ttl)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def connect_url(
    session: aiohttp.ClientSession, url: str, payload: dict[str, Any], *, ack: bool = True
) -> Socket:
    """tests.ws.connect for any server: a plain session and the absolute /graphql URL."""
    ws = await session.ws_connect(url, protocols=[PROTOCOL])
    assert ws.protocol == PROTOCOL
    await ws.send_json({"type": "connection_init", "payload": payload})
    socket = Socket(ws)
    if ack:
        message = await socket.receive()
        assert message["type"] == "connection_ack", message
    return socket


async def post_gql(
    session: aiohttp.ClientSession, url: str, query: str, variables: dict[str, Any], bearer: str
) -> dict[str, Any]:
    async with session.post(
        url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=aiohttp.ClientTimeout(total=30),
    ) as response:
        body = await response.json()
        assert response.status == 200, body
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def stop(process: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL by pid; never waits without a bound."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
            return
        except TimeoutError:
            pass
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 5.0)


# --- two server processes -----------------------------------------------------------------------


@dataclass
class ServerProcess:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def graphql(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    async def wait_healthy(self, session: aiohttp.ClientSession, within: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(
                    f"server {self.name} exited with {self.process.returncode}:\n{tail(self.log)}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(
                    f"http://127.0.0.1:{self.port}/healthz",
                    timeout=aiohttp.ClientTimeout(total=1),
                ) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise AssertionError(f"server {self.name} not healthy within {within}s:\n{tail(self.log)}")


async def start_server(name: str, backend: Backend, log: Path, **env_vars: str) -> ServerProcess:
    """`helpdesk serve` as a process of its own on a free port; `env_vars` add settings."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        HELPDESK_DATABASE_URL=backend.database_url,
        HELPDESK_BROKER_URL=backend.broker_url,
        HELPDESK_JWT_SECRET=TEST_SECRET,
        HELPDESK_HOST="127.0.0.1",
        HELPDESK_PORT=str(port),
        PYTHONUNBUFFERED="1",
        **env_vars,
    )
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    return ServerProcess(name, process, port, log)


@contextlib.asynccontextmanager
async def server_processes(
    backend: Backend, tmp_path: Path, names: str = "AB", **env_vars: str
) -> AsyncIterator[list[ServerProcess]]:
    """A healthy `helpdesk serve` process per name, sharing the services backend; afterwards
    each is stopped (as are servers the block adds to the list) and its log's tail printed.
    Skips on the embedded backend, which one process alone can use."""
    if backend.name == "embedded":
        pytest.skip("several processes need the services backend (PostgreSQL + Redis)")
    servers: list[ServerProcess] = []
    try:
        for name in names:
            servers.append(await start_server(name, backend, tmp_path / f"{name}.log", **env_vars))
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(server.wait_healthy(session) for server in servers))
        yield servers
    finally:
        await asyncio.gather(*(stop(s.process) for s in servers))
        for server in servers:
            print(f"--- server {server.name} (exit {server.process.returncode}) ---")
            print(tail(server.log))


async def test_two_processes_share_events(backend: Backend, tmp_path: Path) -> None:
    async with (
        server_processes(backend, tmp_path) as (a, b),
        aiohttp.ClientSession() as session,
    ):
        socket = await connect_url(session, b.graphql, {"token": token("agent-b", "agent")})
        op = await socket.subscribe(EVENTS)
        await asyncio.sleep(0.3)  # the subscription is registered with B's feed

        loop = asyncio.get_running_loop()
        customer = token("cora")
        create_sent = loop.time()
        created = await post_gql(
            session,
            a.graphql,
            CREATE,
            {"input": {"categorySlug": "app-help", "question": "Across processes?"}},
            customer,
        )
        ticket = created["createTicket"]["ticket"]
        first = (await socket.next_data(op, within=5.0))["ticketEvents"]
        first_latency = loop.time() - create_sent
        # Replying only once the first event is in makes the timing decisive: had B's poll
        # delivered the first event, its next poll is a full second away.
        reply_sent = loop.time()
        await post_gql(
            session,
            a.graphql,
            REPLY,
            {"input": {"ticketId": ticket["id"], "body": "still there?"}},
            customer,
        )
        second = (await socket.next_data(op, within=5.0))["ticketEvents"]
        second_latency = loop.time() - reply_sent
        print(f"latency A->B: created {first_latency:.3f}s, reply {second_latency:.3f}s")

        assert first["kind"] == "CREATED"
        assert first["ticket"] == {"id": ticket["id"]}
        assert first["actor"] == {"sub": "cora"}
        assert second["kind"] == "MESSAGE_ADDED"
        assert second["ticket"] == {"id": ticket["id"]}
        assert second["message"] == {"body": "still there?", "internal": False}
        assert row_key(first["id"]) < row_key(second["id"])
        # Well under the one-second poll, measured from the request: Redis woke B's feed.
        assert first_latency < 0.9 * POLL_SECONDS, first_latency
        assert second_latency < 0.9 * POLL_SECONDS, second_latency
        # Nothing else, not even a duplicate from B's next poll of the log.
        await socket.nothing_within(1.5 * POLL_SECONDS)

        log = await post_gql(session, a.graphql, LOG, {"first": 100}, token("agent-a", "agent"))
        logged = [e["node"]["id"] for e in log["ticketEvents"]["edges"]]
        assert logged[-2:] == [first["id"], second["id"]]
        await socket.close()


# --- a private Redis restarted mid-stream -------------------------------------------------------


@dataclass
class PrivateRedis:
    """A redis-server of this test's own on a free port; never the machine's Redis."""

    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, within: float = 10.0) -> None:
        assert self.process is None or self.process.returncode is not None
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=asyncio.subprocess.STDOUT,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if self.process.returncode is not None:
                raise AssertionError(f"redis-server exited:\n{tail(self.log)}")
            with contextlib.suppress(aioredis.RedisError, OSError):
                async with self.client() as probe:
                    if await probe.ping():
                        return
            await asyncio.sleep(0.05)
        raise AssertionError(f"redis-server not up within {within}s:\n{tail(self.log)}")

    def client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url, socket_connect_timeout=1, socket_timeout=1, retry=None
        )

    async def kill(self) -> None:
        """SIGKILL: no goodbye to the connected clients."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), 5.0)

    async def subscribers(self) -> int:
        async with self.client() as probe:
            # One channel per database (services.events.channel): the tests' own.
            channels = await probe.pubsub_channels(f"{EVENTS_CHANNEL}:*")
            counts = await probe.pubsub_numsub(*channels) if channels else []
        return sum(int(count) for _, count in counts)

    async def wait_subscribers(self, count: int, within: float) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            with contextlib.suppress(aioredis.RedisError, OSError):
                if await self.subscribers() == count:
                    return loop.time() - started
            if loop.time() - started > within:
                raise AssertionError(f"no {count} subscriber(s) on {EVENTS_CHANNEL} in {within}s")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def private_redis(log: Path) -> AsyncIterator[PrivateRedis]:
    redis = PrivateRedis(free_port(), log)
    try:
        await redis.start()
        yield redis
    finally:
        if redis.process is not None and redis.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(redis.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(redis.process.wait(), 5.0)


async def event_log(api: Api, as_: str, page: int = 10) -> list[str]:
    """Every event id the viewer may see, in log order, page by page."""
    ids: list[str] = []
    after: str | None = None
    for _ in range(10_000):
        data = (await api.gql(LOG, {"after": after, "first": page}, as_=as_))["ticketEvents"]
        ids += [edge["node"]["id"] for edge in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return ids
        after = data["pageInfo"]["endCursor"]
    raise AssertionError("the event log does not end")


async def test_redis_restart_loses_nothing(
    backend: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="helpdesk.events")
    async with private_redis(tmp_path / "redis.log") as redis:
        app = create_app(backend.settings(broker_url=redis.url))
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            await _empty_tables()
            api = Api(client)
            await redis.wait_subscribers(1, within=5.0)  # the feed listens on our Redis
            socket = await connect(client, {"token": api.token("rita")})
            op = await socket.subscribe(EVENTS)
            await asyncio.sleep(0.2)

            loop = asyncio.get_running_loop()
            tickets: list[str] = []
            durations: dict[str, list[float]] = {"up": [], "down": [], "restarted": []}

            async def mutate(i: int, phase: str) -> None:
                started = loop.time()
                if i % 3 == 0:
                    question = f"Question {i} while Redis is {phase}"
                    data = await api.gql(
                        CREATE,
                        {"input": {"categorySlug": "app-help", "question": question}},
                        as_="rita",
                    )
                    assert data["createTicket"]["errors"] == [], data
                    tickets.append(data["createTicket"]["ticket"]["id"])
                else:
                    data = await api.gql(
                        REPLY,
                        {"input": {"ticketId": tickets[-1], "body": f"reply {i} ({phase})"}},
                        as_="rita",
                    )
                    assert data["replyToTicket"]["errors"] == [], data
                durations[phase].append(loop.time() - started)
                await asyncio.sleep(0.02)

            for i in range(10):
                await mutate(i, "up")
            await redis.kill()
            last_before_outage = (await event_log(api, "rita", page=100))[-1]
            for i in range(10, 20):
                await mutate(i, "down")
            last_during_outage = (await event_log(api, "rita", page=100))[-1]
            await redis.start()
            for i in range(20, 30):
                await mutate(i, "restarted")

            expected = await event_log(api, "rita")
            received: list[str] = []
            deadline = loop.time() + 15.0
            while len(received) < len(expected) and loop.time() < deadline:
                try:
                    data = await socket.next_data(op, within=deadline - loop.time())
                except TimeoutError:
                    break
                received.append(data["ticketEvents"]["id"])
            assert received == expected, f"missing {sorted(set(expected) - set(received))}"
            await socket.nothing_within(1.5 * POLL_SECONDS)  # no duplicate comes late
            resubscribed = await redis.wait_subscribers(1, within=10.0)
            await socket.close()
            print(
                {phase: f"max {max(d):.3f}s" for phase, d in durations.items()},
                f"resubscribed {resubscribed:.2f}s after the checks began",
            )

            assert len(expected) == 30  # 10 tickets created, 20 replies
            assert received == expected
            during_outage = [
                i
                for i in expected
                if row_key(last_before_outage) < row_key(i) <= row_key(last_during_outage)
            ]
            assert len(during_outage) == 10, (last_before_outage, last_during_outage, expected)
            # Redis really was down for the app: exactly those publishes failed, and were logged.
            failed = [
                str(record.args[0])
                for record in caplog.records
                if record.name == "helpdesk.events"
                and str(record.msg).startswith("publishing event")
                and isinstance(record.args, tuple)
            ]
            assert failed == [str(row_key(i)) for i in during_outage]  # logs tell row keys
        finally:
            await client.close()


# --- shutdown and token expiry ------------------------------------------------------------------


async def test_shutdown_closes_sockets_with_1001(backend: Backend) -> None:
    client = TestClient(TestServer(create_app(backend.settings())))
    await client.start_server()
    try:
        # A session of our own: TestClient.close() would first close its own sockets (1000).
        async with aiohttp.ClientSession() as session:
            url = str(client.make_url("/graphql"))
            socket = await connect_url(session, url, {"token": token("sam")})
            op = await socket.subscribe(EVENTS)
            await asyncio.sleep(0.2)
            messages = asyncio.create_task(_until_closed(socket, within=15.0))
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait_for(client.close(), 15.0)
            seen = await asyncio.wait_for(messages, 15.0)
            print(f"shutdown took {loop.time() - started:.3f}s; socket saw {seen}")
            assert seen[-1] == {"type": "closed", "code": 1001}
            assert all(m == {"type": "complete", "id": op} for m in seen[:-1]), seen
    finally:
        await client.close()


async def _until_closed(socket: Socket, within: float) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not seen or seen[-1]["type"] != "closed":
        seen.append(await socket.receive(max(0.0, deadline - loop.time())))
    return seen


async def test_token_expiry_ends_the_subscription(api: Api) -> None:
    socket = await connect(api.client, {"token": api.token("tess", ttl=2)})
    op = await socket.subscribe(EVENTS)
    loop = asyncio.get_running_loop()
    started = loop.time()
    message = await socket.receive(within=5.0)
    elapsed = loop.time() - started
    assert message["id"] == op, message
    assert message["type"] in {"next", "error"}, message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", message
    assert "token expired" in errors[0]["message"], message
    assert elapsed < 5.0
    # The subscription is over: the owner's next event never reaches this socket.
    await api.gql(CREATE, {"input": {"categorySlug": "app-help", "question": "Late?"}}, as_="tess")
    loop_deadline = loop.time() + 1.5 * POLL_SECONDS
    while loop.time() < loop_deadline:
        try:
            late = await socket.receive(within=loop_deadline - loop.time())
        except TimeoutError:
            break
        assert late == {"type": "complete", "id": op}, late
    await socket.close()
