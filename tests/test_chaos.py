"""Chaos: the database and the broker go away under concurrent writers and live subscribers.

The tests run a PostgreSQL cluster and a Redis of their own (the machine's binaries, a temporary
directory, free ports; never the shared servers), stop and start them while writers create tickets
(retrying with the same clientMutationId until acknowledged) and WebSocket subscribers follow
`ticketEvents` (a shared execution, one of their own, and one that reconnects with `after` during
the outage). They assert: no acknowledged write lost, none doubled, every failure a client saw
typed and retryable, every subscriber got every event whole and in order, and the app recovered
without a restart. Skipped (with the reason) when the binaries are missing; under CI=true that
fails instead.

HELPDESK_CHAOS_WRITERS and HELPDESK_CHAOS_DOWN_SECONDS scale a run; each run prints its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import db
from server import logs
from server.app import create_app
from server.config import Settings
from server.keys import SETTINGS
from tests.conftest import IN_CI, TEST_SECRET, Api
from tests.fixtures import CREATE, free_port, row_key
from tests.ws import Socket, connect

# What a client sees when a request fails for want of the database or the broker: a top-level
# error with this code, retryable.
OUTAGE_ERROR_CODE = "SERVICE_UNAVAILABLE"
OUTAGE_STATUSES = frozenset({200, 503})

WRITERS = int(os.environ.get("HELPDESK_CHAOS_WRITERS", "10"))
DOWN_SECONDS = os.environ.get("HELPDESK_CHAOS_DOWN_SECONDS")
RUN_BOUND = 50.0  # seconds: a run that takes longer fails

EVENTS = "subscription { ticketEvents { id ticket { id question } } }"
EVENTS_ALONE = (
    "subscription Alone($after: String) {"
    " ticketEvents(after: $after) { id ticket { id question } } }"
)


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"chaos tests need {reason}")
    pytest.skip(f"chaos tests skipped: {reason}")


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster, run as the `postgres` OS user when the tests run as root."""

    bin: Path
    root: Path
    port: int
    as_owner: list[str]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_owner, *args], check=True, capture_output=True, timeout=60)

    def initdb(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.root / "data"), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-l",
            str(self.root / "log"), "-o", options, "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop")


def _owned_tmpdir(owner: list[str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="helpdesk-chaos-"))
    if owner:
        shutil.chown(root, "postgres", "postgres")
    return root


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        _missing("PostgreSQL binaries (/usr/lib/postgresql/*/bin/initdb)")
    owner: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if shutil.which("runuser") is None:
            _missing("runuser, to run PostgreSQL as the postgres user")
        owner = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(Path(found[-1]).parent, _owned_tmpdir(owner), free_port(), owner)
    cluster.initdb()
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            cluster.stop("immediate")
        shutil.rmtree(cluster.root, ignore_errors=True)


@dataclass
class Redis:
    """A Redis of the test's own, killed and started again by its PID."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    redis = Redis(Path(tempfile.mkdtemp(prefix="helpdesk-chaos-redis-")), free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
        shutil.rmtree(redis.root, ignore_errors=True)


@pytest.fixture(autouse=True)
def production_logs() -> Iterator[None]:
    """Logs configured as the server configures them (JSON lines), restored afterwards: the
    development renderer's tracebacks cost seconds each, which would pace the run."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("INFO")
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level


@contextlib.asynccontextmanager
async def app_on(cluster: Cluster, broker_url: str, files: Path) -> AsyncIterator[Api]:
    """The app on a new database of the cluster."""
    name = f"chaos_{os.getpid()}_{time.monotonic_ns()}"
    admin = await asyncpg.connect(cluster.url.replace("postgres://", "postgresql://") + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    EXECUTOR_CACHE.clear()  # Tortoise caches statements per connection name, per dialect
    url = f"{cluster.url}/{name}"
    await db.migrate(url)
    settings = Settings(
        database_url=url,
        broker_url=broker_url,
        jwt_secret=TEST_SECRET,
        data_dir=str(files),
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=100_000,
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Api(client)
    finally:
        await client.close()
        EXECUTOR_CACHE.clear()


@dataclass
class Failure:
    status: int | None
    code: str
    payload_error: bool = False


@dataclass
class Writes:
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> ticket id
    acknowledged_at: list[float] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


async def write_until_stopped(api: Api, n: int, stop: asyncio.Event, writes: Writes) -> None:
    """Create tickets one after another; each is retried with its key until acknowledged."""
    i = 0
    while not stop.is_set():
        key = f"w{n}-{i}"
        variables = {
            "input": {"categorySlug": "app-help", "question": key, "clientMutationId": key}
        }
        while True:
            try:
                status, body = await api.post(CREATE, variables, as_=f"writer-{n}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                writes.failures.append(Failure(None, type(exc).__name__))
            else:
                payload = (body.get("data") or {}).get("createTicket")
                if status == 200 and not body.get("errors") and payload and not payload["errors"]:
                    writes.acknowledged[key] = payload["ticket"]["id"]
                    writes.acknowledged_at.append(time.monotonic())
                    break
                if payload and payload["errors"]:  # would look final to the client
                    code = payload["errors"][0]["code"]
                    writes.failures.append(Failure(status, code, payload_error=True))
                else:
                    codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
                    writes.failures.append(Failure(status, ",".join(sorted(map(str, codes)))))
            await asyncio.sleep(0.05)
        i += 1


@dataclass
class Subscriber:
    """A WebSocket `ticketEvents` subscriber that records every message it gets."""

    name: str
    api: Api
    query: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    socket: Socket | None = None
    task: asyncio.Task[None] | None = None

    async def start(self, variables: dict[str, Any] | None = None) -> None:
        token = self.api.token(self.name, "agent")
        self.socket = await connect(self.api.client, {"token": token})
        op_id = await self.socket.subscribe(self.query, variables)
        self.task = asyncio.create_task(self._collect(self.socket, op_id))

    async def _collect(self, socket: Socket, op_id: str) -> None:
        while True:
            message = await socket.receive(within=3600)
            if message["type"] == "closed":
                return
            self.messages.append(message)
            self.arrived.append(time.monotonic())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.socket is not None:
            await self.socket.close()

    async def reconnect_after_last(self) -> None:
        """Drop the socket and subscribe again with `after` = the last event received."""
        await self.stop()
        last = self.event_ids()[-1]
        await self.start({"after": str(last)})  # a plain event number: still a cursor

    def event_ids(self) -> list[int]:
        return [
            row_key(m["payload"]["data"]["ticketEvents"]["id"])
            for m in self.messages
            if m["type"] == "next" and (m["payload"].get("data") or {}).get("ticketEvents")
        ]

    def whole(self) -> list[dict[str, Any]]:
        """The messages that are an event with its ticket and no error."""
        return [m for m in self.messages if _is_whole(m)]

    def not_whole(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if not _is_whole(m)]


def _is_whole(message: dict[str, Any]) -> bool:
    return (
        message["type"] == "next"
        and "errors" not in message["payload"]
        and message["payload"]["data"]["ticketEvents"]["ticket"] is not None
    )


async def _log(api: Api) -> list[tuple[int, int, str]]:
    """The event log and the tickets as stored: (event id, ticket id, question)."""
    url = str(api.client.server.app[SETTINGS].database_url).replace("postgres://", "postgresql://")
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT e.id, t.id AS ticket_id, t.question FROM ticket_events e"
            " JOIN tickets t ON t.id = e.ticket_id ORDER BY e.id"
        )
    finally:
        await conn.close()
    return [(int(r["id"]), int(r["ticket_id"]), str(r["question"])) for r in rows]


async def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


async def run_chaos(
    api: Api,
    *,
    label: str,
    outage: Callable[[], Awaitable[None]],
    restore: Callable[[], Awaitable[None]],
    down_seconds: float,
) -> None:
    async with asyncio.timeout(RUN_BOUND):
        shared = [Subscriber(f"agent-{i}", api, EVENTS) for i in (1, 2)]  # one execution
        alone = Subscriber("agent-3", api, EVENTS_ALONE)  # an execution of its own
        resuming = Subscriber("agent-4", api, EVENTS_ALONE)  # reconnects with `after`
        subscribers = [*shared, alone, resuming]
        for subscriber in subscribers:
            await subscriber.start({"after": None} if subscriber.query is EVENTS_ALONE else None)
        # Every subscriber is live once it has an event: write until each has had one.
        n = 0
        while not all(s.event_ids() for s in subscribers):
            variables = {"input": {"categorySlug": "app-help", "question": f"warm-up-{n}"}}
            await api.gql(CREATE, variables, as_="warm-up")
            n += 1
            await _until(lambda: all(s.event_ids() for s in subscribers), 0.5)

        writes = Writes()
        stop = asyncio.Event()
        writers = [
            asyncio.create_task(write_until_stopped(api, i, stop, writes)) for i in range(WRITERS)
        ]
        await asyncio.sleep(1.0)
        await outage()
        down_at = time.monotonic()
        await resuming.reconnect_after_last()  # resumes from the log while the database is away
        await asyncio.sleep(max(0.0, down_seconds - (time.monotonic() - down_at)))
        await restore()
        up_at = time.monotonic()
        # Writes must succeed again without restarting the app.
        assert await _until(lambda: any(t > up_at for t in writes.acknowledged_at), 15)
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*writers)

        log = await _log(api)
        last = log[-1][0]
        await _until(
            lambda: all(s.event_ids() and s.event_ids()[-1] >= last for s in subscribers), 15
        )
        for subscriber in subscribers:
            await subscriber.stop()

    recovered = min((t for t in writes.acknowledged_at if t > up_at), default=float("nan"))
    resumed = min((t for s in subscribers for t in s.arrived if t > up_at), default=float("nan"))
    outage_failures = Counter((f.status, f.code) for f in writes.failures)
    total = sum(len(s.event_ids()) for s in subscribers)
    whole = sum(len(s.whole()) for s in subscribers)
    print(
        f"\nchaos {label}: {WRITERS} writers, {down_seconds:.1f}s down;"
        f" {len(writes.acknowledged)} writes acknowledged;"
        f" failures seen by clients {dict(outage_failures)};"
        f" first acknowledged write {recovered - up_at:.2f}s after the restore,"
        f" first event delivered {resumed - up_at:.2f}s after it;"
        f" events delivered whole {whole} of {total} messages"
        f" ({sum(len(s.messages) for s in subscribers)} messages in all)"
    )

    # No acknowledged write lost, none doubled.
    by_question = Counter(question for _, _, question in log)
    assert [q for q, count in by_question.items() if count > 1] == []
    stored = {question: str(ticket_id) for _, ticket_id, question in log}
    acknowledged = {key: str(row_key(value)) for key, value in writes.acknowledged.items()}
    assert {key: stored.get(key) for key in writes.acknowledged} == acknowledged
    # Every failure typed and retryable: a top-level error with the outage's code, never a
    # payload error that would look final.
    for failure in writes.failures:
        assert not failure.payload_error, failure
        assert failure.status in OUTAGE_STATUSES and failure.code == OUTAGE_ERROR_CODE, failure
    # Every subscriber got every event from its first one on, whole, in order, once.
    tickets_of = {event_id: ticket_id for event_id, ticket_id, _ in log}
    for subscriber in subscribers:
        assert subscriber.not_whole() == [], subscriber.name
        ids = subscriber.event_ids()
        if subscriber is resuming:  # two subscriptions, the second after the first's last
            assert ids == sorted(ids) and len(set(ids)) == len(ids), subscriber.name
        expected = [event_id for event_id, _, _ in log if event_id >= ids[0]]
        assert ids == expected, subscriber.name
        for message in subscriber.whole():
            event = message["payload"]["data"]["ticketEvents"]
            assert row_key(event["ticket"]["id"]) == tickets_of[row_key(event["id"])]


def _down(default: float) -> float:
    return float(DOWN_SECONDS) if DOWN_SECONDS else default


@pytest.mark.parametrize(("mode", "down_seconds"), [("fast", 0.5), ("immediate", 3.0)])
async def test_database_restart_under_writers_and_subscribers(
    cluster: Cluster, tmp_path: Path, mode: str, down_seconds: float
) -> None:
    loop = asyncio.get_running_loop()

    async def outage() -> None:
        await loop.run_in_executor(None, cluster.stop, mode)

    async def restore() -> None:
        await loop.run_in_executor(None, cluster.start)

    async with app_on(cluster, "memory://", tmp_path) as api:
        await run_chaos(
            api,
            label=f"PostgreSQL {mode} stop",
            outage=outage,
            restore=restore,
            down_seconds=_down(down_seconds),
        )


async def test_broker_killed_under_writers_and_subscribers(
    cluster: Cluster, redis_server: Redis, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()

    async def outage() -> None:
        # Off the event loop: the server under test shares it, and waiting for the killed
        # process must not stop the server.
        await loop.run_in_executor(None, redis_server.kill)

    async def restore() -> None:
        await loop.run_in_executor(None, redis_server.start)

    async with app_on(cluster, redis_server.url, tmp_path) as api:
        await run_chaos(
            api, label="Redis killed", outage=outage, restore=restore, down_seconds=_down(2.0)
        )
