"""Logs never hold a secret: every error path is provoked and the written log is searched."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer

from server import auth
from server.app import create_app
from server.config import Settings
from server.logs import Redactor, configure, url_password
from tests.conftest import TEST_SECRET, Backend, serve
from tests.test_operations import closed_port
from tests.ws import connect

DB_PASSWORD = "db-pass-Zq8uV3kT"


@pytest.fixture
def written_log() -> Iterator[io.StringIO]:
    """The JSON lines the server writes, configured as `helpdesk serve` configures them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    old = structlog.get_config()
    configure("INFO", secrets=(TEST_SECRET, DB_PASSWORD))
    structlog.configure(cache_logger_on_first_use=False)  # later tests capture logs their way
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers, root.level = handlers, level
        structlog.configure(**old)


def leaks(text: str, token: str) -> list[str]:
    """Which secrets (or recognisable pieces of them) the text holds."""
    _, payload, signature = token.split(".")
    pieces = {
        "jwt secret": TEST_SECRET,
        "jwt secret (start)": TEST_SECRET[:16],
        "token payload": payload[:24],
        "token signature": signature[:16],
        "database password": DB_PASSWORD,
    }
    return [name for name, piece in pieces.items() if piece in text]


async def test_no_error_path_writes_a_secret(
    backend: Backend, written_log: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import faq

    token = auth.encode(sub="ann", role="customer", name="Ann", secret=TEST_SECRET)
    bearer = {"Authorization": f"Bearer {token}"}
    list_role = jwt.encode(
        {"sub": "eve", "role": ["admin"], "exp": int(time.time()) + 600},
        TEST_SECRET,
        algorithm="HS256",
    )

    async def broken(**_: Any) -> list[Any]:
        settings = Settings(jwt_secret=TEST_SECRET, database_url=f"postgres://u:{DB_PASSWORD}@h/d")
        raise RuntimeError(f"failed while holding {settings!r}")

    async with serve(backend) as client:
        # A multipart request without a boundary.
        response = await client.post(
            "/graphql", data=b"--x--", headers={**bearer, "Content-Type": "multipart/form-data"}
        )
        assert response.status == 400
        assert (await response.json())["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        # A validly signed token whose role is a list: over HTTP and WebSocket.
        response = await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {list_role}"},
        )
        assert response.status == 401
        assert (await response.json())["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        socket = await connect(client, {"token": list_role}, ack=False)
        assert (await socket.receive())["code"] == 4403
        # A resolver that raises with the settings (and the request) in its frames.
        monkeypatch.setattr(faq, "list_faq", broken)
        response = await client.post("/graphql", json={"query": "{ faq { slug } }"}, headers=bearer)
        body = await response.json()
        assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    # A database that cannot be reached, with a password in its URL.
    unreachable = f"postgres://postgres:{DB_PASSWORD}@127.0.0.1:{closed_port()}/nothing"
    async with serve_unready(backend, database_url=unreachable) as client:
        response = await client.post("/graphql", json={"query": "{ faq { slug } }"}, headers=bearer)
        assert response.status == 503
        ready = await client.get("/readyz")
        assert ready.status == 503

    text = written_log.getvalue()
    assert '"unexpected error"' in text and '"dependency unavailable"' in text  # logged, whole
    assert "RuntimeError" in text and "ConnectionRefusedError" in text
    assert leaks(text, token) == []
    assert leaks(text, list_role) == []


@asynccontextmanager
async def serve_unready(backend: Backend, **overrides: Any) -> AsyncIterator[TestClient]:
    """An app whose database is unreachable (so its tables cannot be emptied first)."""
    client = TestClient(TestServer(create_app(backend.settings(**overrides))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def test_settings_repr_holds_no_secret() -> None:
    settings = Settings(
        jwt_secret=TEST_SECRET,
        database_url=f"postgres://helpdesk:{DB_PASSWORD}@db:5432/helpdesk",
        broker_url=f"redis://:{DB_PASSWORD}@redis:6379/0",
    )
    text = repr(settings) + str(settings) + f"{settings}"
    assert TEST_SECRET not in text and DB_PASSWORD not in text
    assert "postgres://helpdesk:[REDACTED]@db:5432/helpdesk" in text


def test_redaction_is_a_second_line_of_defence() -> None:
    token = auth.encode(sub="ann", role="agent", name="Ann", secret="another-secret-" + "z" * 32)
    redact = Redactor(secrets=["a-configured-secret"])
    event = redact(
        None,
        "error",
        {
            "event": f"failed: Authorization: Bearer {token} at postgres://u:{DB_PASSWORD}@h/d",
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Accept": "*/*"},
            "dump": "Settings(jwt_secret='a-configured-secret', port=1)",
            "nested": [{"token": "anything"}, f"?token={token}"],
            "password": "plain",
        },
    )
    text = repr(event)
    assert token.split(".")[1] not in text and token.split(".")[2] not in text
    assert DB_PASSWORD not in text and "dXNlcjpwYXNz" not in text
    assert "a-configured-secret" not in text and "plain" not in text
    assert event["headers"]["Accept"] == "*/*"  # what is not a secret stays readable
    assert url_password(f"postgres://u:{DB_PASSWORD}@h/d") == DB_PASSWORD
