"""Fixtures: every database test runs on each configured backend, through the real HTTP API.

Backends: `embedded` (SQLite file + memory broker) always; `services` (PostgreSQL + Redis) when
HELPDESK_TEST_DATABASE_URL and HELPDESK_TEST_REDIS_URL are set. Under CI=true a missing backend
is an error, not a skip. Each run creates its own database and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web_app
from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models import db
from server import auth
from server.app import create_app
from server.config import Settings

TEST_SECRET = "test-secret-" + "x" * 32
DATABASE_URL = os.environ.get("HELPDESK_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

BACKENDS = ["embedded"] + (["services"] if DATABASE_URL and REDIS_URL else [])
SKIPPED_BACKENDS = (
    []
    if DATABASE_URL and REDIS_URL
    else [
        "services (PostgreSQL + Redis): set HELPDESK_TEST_DATABASE_URL and HELPDESK_TEST_REDIS_URL"
    ]
)


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and SKIPPED_BACKENDS:
        raise pytest.UsageError(
            "CI requires every backend; missing: " + "; ".join(SKIPPED_BACKENDS)
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"helpdesk backends: {', '.join(BACKENDS)}"]
    lines += [f"helpdesk skipped backend: {s}" for s in SKIPPED_BACKENDS]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for skipped in SKIPPED_BACKENDS:
        terminalreporter.write_line(f"helpdesk skipped backend: {skipped}", yellow=True)


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    broker_url: str
    data_dir: Path

    def settings(self, **overrides: Any) -> Settings:
        values = {
            "database_url": self.database_url,
            "broker_url": self.broker_url,
            "jwt_secret": TEST_SECRET,
            "data_dir": str(self.data_dir),
            # Generous enough for the busiest test; the rate-limit tests set their own.
            "rate_limit_per_minute": 1_000_000,
            "rate_limit_burst": 100_000,
            # The breach scheduler scans only in the tests that watch it (they set their own
            # interval): every app of a run shares its database, and one app's scans would
            # breach, and lock, the tickets that other tests made at clocks they had set.
            "sla_scan_seconds": 3600.0,
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session", params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """A migrated database of its own for this run, dropped afterwards."""
    # Tortoise caches INSERT statements per connection name; drop the other dialect's.
    EXECUTOR_CACHE.clear()
    if request.param == "embedded":
        path = tmp_path_factory.mktemp("db") / "helpdesk.sqlite3"
        backend = Backend("embedded", f"sqlite://{path}", "memory://", path.parent / "files")
        await db.migrate(backend.database_url)
        yield backend
        return
    assert DATABASE_URL and REDIS_URL
    name = f"helpdesk_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        files = tmp_path_factory.mktemp("files")
        backend = Backend("services", _with_database(DATABASE_URL, name), REDIS_URL, files)
        await db.migrate(backend.database_url)
        yield backend
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


TABLES_TO_EMPTY = [
    "ticket_reads",
    "satisfaction_ratings",
    "attachments",
    "ticket_events",
    "recategorization_requests",
    "messages",
    "mutation_receipts",
    "tickets",
    "sla_policies",
    "users",
]


async def _empty_tables() -> None:
    conn = Tortoise.get_connection("default")
    for table in TABLES_TO_EMPTY:
        await conn.execute_script(f"DELETE FROM {table}")
    await conn.execute_script("UPDATE counters SET value = 0")
    await db.seed_sla_policies()


@dataclass
class Api:
    """A GraphQL client over the real HTTP endpoint."""

    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def token(
        self, sub: str, role: str = "customer", name: str | None = None, ttl: int = 3600
    ) -> str:
        return auth.encode(
            sub=sub, role=role, name=name or sub.title(), secret=TEST_SECRET, ttl_seconds=ttl
        )

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        role: str = "customer",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        all_headers = dict(headers or {})
        if as_ is not None:
            all_headers["Authorization"] = f"Bearer {self.token(as_, role)}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )
        return response.status, await response.json()

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Execute and return `data`, failing the test on any top-level error."""
        status, body = await self.post(query, variables, **kwargs)
        assert status == 200, body
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Execute and return the single top-level error."""
        _, body = await self.post(query, variables, **kwargs)
        assert body.get("errors"), body
        assert len(body["errors"]) == 1, body["errors"]
        return body["errors"][0]


@asynccontextmanager
async def serve(backend: Backend, **overrides: Any) -> AsyncIterator[TestClient]:
    """A running app on empty tables; one at a time (the ORM's connections are process-wide)."""
    client = TestClient(TestServer(create_app(backend.settings(**overrides))))
    await client.start_server()
    try:
        await _empty_tables()
        yield client
    finally:
        await _close(client)


CLOSE_SECONDS = 60


async def _close(client: TestClient) -> None:
    """Stop the app; a shutdown that hangs fails with every pending task's stack, not a bare
    timeout."""
    closing = asyncio.ensure_future(client.close())
    done, _ = await asyncio.wait([closing], timeout=CLOSE_SECONDS)
    if not done:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        pytest.fail(f"the app did not shut down within {CLOSE_SECONDS} s:\n{stacks.getvalue()}")
    closing.result()


@pytest.fixture(autouse=True)
def forget_closed_apps() -> Iterator[None]:
    """aiohttp memoizes each app's middleware chains (up to 1,024) for the life of the process.
    A server has one app; a test run makes one per test, and the memo would keep each of them
    alive with its schema: millions of objects, whose full collections then pause the event
    loop for seconds, past the operation deadline of a request in flight. Forget them after
    each test."""
    yield
    memo = getattr(web_app, "_cached_build_middleware", None)
    if memo is not None:
        memo.cache_clear()


@pytest.fixture
async def app_client(backend: Backend) -> AsyncIterator[TestClient]:
    async with serve(backend) as client:
        yield client


@pytest.fixture
async def api(app_client: TestClient) -> Api:
    return Api(app_client)


@pytest.fixture
def clock() -> Iterator[Any]:
    """The services' clock, to set instead of waiting; the wall clock again after the test."""
    from services.clock import clock

    yield clock
    clock.reset()


@pytest.fixture
def count_statements() -> Iterator[Any]:
    """`with count_statements() as counter:` records every SQL statement sent meanwhile."""
    yield db.recording_statements


REPO = Path(__file__).resolve().parent.parent
JS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="session")
def js_packages() -> Path:
    """tests/js with its npm packages (graphql-ws client, graphql-http audit) installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if IN_CI:
            pytest.fail("node and npm are needed for the JavaScript client tests")
        pytest.skip("node/npm not installed")
    wanted = json.loads((JS / "package.json").read_text())["dependencies"]
    if any(not (JS / "node_modules" / name).exists() for name in wanted):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS,
            check=True,
            timeout=300,
        )
    return JS
