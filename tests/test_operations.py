"""Health, readiness, metrics, operation logs, error masking and introspection."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from server.app import create_app
from tests.conftest import Api, Backend
from tests.fixtures import create_ticket
from tests.ws import connect


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def started(backend: Backend, **overrides: Any) -> TestClient:
    client = TestClient(TestServer(create_app(backend.settings(**overrides))))
    await client.start_server()
    return client


async def test_healthz_and_readyz(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status == 200 and (await health.json())["status"] == "ok"
    ready = await api.client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ok", "database": True, "broker": True}


async def test_readyz_is_503_when_the_broker_is_down(backend: Backend) -> None:
    client = await started(backend, broker_url=f"redis://127.0.0.1:{closed_port()}/0")
    try:
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert await ready.json() == {"status": "unavailable", "database": True, "broker": False}
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()


async def test_readyz_is_503_when_the_database_is_down(backend: Backend) -> None:
    client = await started(
        backend, database_url=f"postgres://postgres@127.0.0.1:{closed_port()}/nothing"
    )
    try:
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["database"] is False
    finally:
        await client.close()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample, or 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_after_real_requests(api: Api) -> None:
    await api.gql(
        'mutation CreateIt { createTicket(input: {categorySlug: "app-help", question: "Q"}) '
        "{ errors { code } } }",
        as_="ann",
    )
    await api.gql("query MyTickets { tickets { totalCount } }", as_="ann")
    await api.post("query Broken { nope }", as_="ann")
    socket_ = await connect(api.client, {"token": api.token("agent-1", "agent")})
    await socket_.subscribe("subscription Live { ticketEvents { id } }")
    await create_ticket(api, "ann")
    await socket_.receive()
    response = await api.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    ops = "helpdesk_graphql_operations_total"
    assert sample(text, ops, operation="CreateIt", type="mutation", outcome="ok") == 1
    assert sample(text, ops, operation="MyTickets", type="query", outcome="ok") == 1
    assert sample(text, ops, operation="Broken", outcome="invalid") == 1
    assert sample(text, "helpdesk_graphql_operation_seconds_count", operation="MyTickets") == 1
    assert sample(text, "helpdesk_http_requests_total", route="/graphql", status="200") >= 4
    assert sample(text, "helpdesk_websocket_connections") == 1
    assert sample(text, "helpdesk_subscriptions") == 1
    assert sample(text, "helpdesk_events_published_total") >= 2
    assert sample(text, "helpdesk_events_delivered_total") >= 1
    assert "helpdesk_db_connections_in_use" in text
    await socket_.close()


async def test_operation_names_cannot_flood_the_labels(api: Api) -> None:
    await api.post("query %s { __typename }" % ("x" * 80))
    text = await (await api.client.get("/metrics")).text()
    assert sample(text, "helpdesk_graphql_operations_total", operation="other") == 1
    assert "x" * 80 not in text


async def test_one_log_line_per_operation(api: Api) -> None:
    with capture_logs() as logs:
        status, _ = await api.post("query Mine { tickets { totalCount } }", as_="ann")
        await api.post("query Bad { tickets { nope } }", as_="ann")
        await api.post("{ syntax error", as_="ann")
    assert status == 200
    operations = [e for e in logs if e["event"] == "operation"]
    assert [(e["operation"], e["outcome"]) for e in operations] == [
        ("Mine", "ok"),
        ("Bad", "invalid"),
        (None, "invalid"),
    ]
    assert operations[0]["user_id"] == "ann" and operations[0]["request_id"]
    assert operations[0]["duration_ms"] >= 0
    # Client mistakes are not server exceptions.
    assert not [e for e in logs if e.get("log_level") == "error"]


async def test_unexpected_errors_are_masked_and_logged_with_the_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import faq

    async def broken(**_: Any) -> list[Any]:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(faq, "list_faq", broken)
    with capture_logs() as logs:
        response = await api.client.post("/graphql", json={"query": "{ faq { slug } }"})
        body = await response.json()
    [error] = body["errors"]
    assert error["message"] == "Internal server error"
    assert "secret" not in str(body)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["extensions"]["requestId"] == response.headers["X-Request-Id"]
    [logged] = [e for e in logs if e["event"] == "unexpected error"]
    assert logged["request_id"] == response.headers["X-Request-Id"]
    assert logged["log_level"] == "error"


@pytest.fixture
async def locked_down(backend: Backend) -> AsyncIterator[TestClient]:
    client = await started(backend, introspection=False, graphiql=False)
    try:
        yield client
    finally:
        await client.close()


async def test_introspection_and_graphiql_can_be_turned_off(locked_down: TestClient) -> None:
    # One app at a time: the ORM's connections are process-wide.
    response = await locked_down.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    body = await response.json()
    assert body.get("errors") and "introspection" in body["errors"][0]["message"].lower()
    plain = await locked_down.post("/graphql", json={"query": "{ __typename }"})
    assert (await plain.json()) == {"data": {"__typename": "Query"}}
    page = await locked_down.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in (await page.text()).lower()


async def test_graphiql_and_introspection_by_default(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in (await page.text()).lower()
    data = await api.gql("{ __schema { queryType { name } } }")
    assert data == {"__schema": {"queryType": {"name": "Query"}}}
