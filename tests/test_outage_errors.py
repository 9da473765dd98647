"""A database outage is a typed, retryable answer; metrics and logs say what happened.

An outage from the start: the app points at a port where nothing listens (every backend). An
outage in the middle: the app reaches PostgreSQL through a proxy the test cuts (PostgreSQL
backend only), so open connections die and new ones are refused.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from server import auth
from server.app import create_app
from tests.conftest import TEST_SECRET, Api, Backend, serve
from tests.fixtures import CREATE
from tests.tcpproxy import TcpProxy
from tests.test_logs import written_log
from tests.test_operations import closed_port, sample
from tests.ws import connect

__all__ = ["written_log"]  # a fixture used here

GRAPHQL_RESPONSE = "application/graphql-response+json"
TICKETS = "query Mine { tickets { totalCount } }"


@pytest.fixture(autouse=True)
def production_logs(written_log: io.StringIO) -> io.StringIO:
    """Logs as the server writes them (JSON, no frame locals), not the console's rich ones."""
    return written_log


def bearer(sub: str = "ann", role: str = "customer") -> dict[str, str]:
    token = auth.encode(sub=sub, role=role, name=sub.title(), secret=TEST_SECRET)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def app_on(backend: Backend, database_url: str) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(backend.settings(database_url=database_url))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def unreachable(backend: Backend) -> AsyncIterator[TestClient]:
    url = f"postgres://postgres:pw@127.0.0.1:{closed_port()}/nothing"
    async with app_on(backend, url) as client:
        yield client


def dependency_up(text: str, name: str) -> float | None:
    """The `helpdesk_dependency_up` gauge of one dependency."""
    for line in text.splitlines():
        if line.startswith(f'helpdesk_dependency_up{{name="{name}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return None


def assert_unavailable(error: dict[str, Any]) -> None:
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
    assert error["extensions"]["retryAfter"] >= 1
    assert "retry" in error["message"]


async def test_a_query_during_an_outage_is_service_unavailable(unreachable: TestClient) -> None:
    # application/json: a well-formed request is 200, the error says what happened.
    plain = await unreachable.post("/graphql", json={"query": "{ faq { slug } }"})
    body = await plain.json()
    assert plain.status == 200
    assert_unavailable(body["errors"][0])
    assert 1 <= int(plain.headers["Retry-After"]) <= 5
    # graphql-response+json: no data, so the status says it too.
    typed = await unreachable.post(
        "/graphql", json={"query": "{ faq { slug } }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert typed.status == 503
    assert typed.content_type == GRAPHQL_RESPONSE
    assert_unavailable((await typed.json())["errors"][0])
    assert 1 <= int(typed.headers["Retry-After"]) <= 5


async def test_a_signed_in_request_during_an_outage_is_a_json_503(
    unreachable: TestClient,
) -> None:
    # Signing in reads the user: the request fails before any GraphQL runs.
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = await unreachable.post(
            "/graphql", json={"query": TICKETS}, headers={**bearer(), "Accept": accept}
        )
        assert response.status == 503
        assert 1 <= int(response.headers["Retry-After"]) <= 5
        [error] = (await response.json())["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["extensions"]["requestId"] == response.headers["X-Request-Id"]


async def test_a_socket_signing_in_during_an_outage_is_told_to_retry(
    unreachable: TestClient,
) -> None:
    token = auth.encode(sub="ann", role="customer", name="Ann", secret=TEST_SECRET)
    socket = await connect(unreachable, {"token": token}, ack=False)
    closed = await socket.receive()
    assert closed == {"type": "closed", "code": 1013}  # Try Again Later


async def test_a_mutation_during_an_outage_is_a_top_level_retryable_error(
    unreachable: TestClient,
) -> None:
    variables = {"input": {"categorySlug": "app-help", "question": "Q", "clientMutationId": "k1"}}
    response = await unreachable.post(
        "/graphql",
        json={"query": CREATE, "variables": variables},
        headers={**bearer(), "Accept": GRAPHQL_RESPONSE},
    )
    body = await response.json()
    assert response.status == 503, body
    assert "data" not in body  # never a payload error that looks final
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


async def test_an_outage_is_counted_and_logged_once_with_its_traceback(
    unreachable: TestClient,
) -> None:
    with capture_logs() as logs:
        for _ in range(20):
            await unreachable.post("/graphql", json={"query": "query Faq { faq { slug } }"})
            await unreachable.post("/graphql", json={"query": TICKETS}, headers=bearer())
    per_request = [e for e in logs if e.get("request_id")]
    with_traceback = [e for e in per_request if e.get("exc_info")]
    assert [e["event"] for e in with_traceback] == ["dependency unavailable"]
    assert with_traceback[0]["dependency"] == "database"
    assert not [e for e in logs if e["event"] == "unexpected error"]
    operations = [e for e in logs if e["event"] == "operation"]
    assert {e["outcome"] for e in operations} == {"unavailable"}

    text = await (await unreachable.get("/metrics")).text()
    ops = "helpdesk_graphql_operations_total"
    assert sample(text, ops, operation="Faq", outcome="unavailable") == 20
    assert sample(text, ops, outcome="invalid") == 0
    assert sample(text, ops, outcome="error") == 0
    http = "helpdesk_http_requests_total"
    assert sample(text, http, route="/graphql", status="503") == 20  # the signed-in ones
    assert sample(text, http, route="/graphql", status="200") == 20
    assert dependency_up(text, "database") == 0
    assert dependency_up(text, "broker") == 1


async def test_readiness_sets_the_dependency_gauge(unreachable: TestClient) -> None:
    assert (await unreachable.get("/readyz")).status == 503
    text = await (await unreachable.get("/metrics")).text()
    assert dependency_up(text, "database") == 0


async def test_metrics_count_the_status_that_was_sent(api: Api) -> None:
    missing = await api.client.get("/attachments/12345", headers=bearer())
    assert missing.status == 404
    text = await (await api.client.get("/metrics")).text()
    http = "helpdesk_http_requests_total"
    assert sample(text, http, route="/attachments/{id}", status="404") == 1
    assert sample(text, http, route="/attachments/{id}", status="500") == 0
    assert dependency_up(text, "database") == 1


async def test_outcomes_tell_the_client_from_the_server(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import faq

    async def broken(**_: Any) -> list[Any]:
        raise RuntimeError("a bug")

    await api.post("query Anonymous { me { id } }")  # unauthenticated: the client's mistake
    monkeypatch.setattr(faq, "list_faq", broken)
    await api.post("query Buggy { faq { slug } }")
    text = await (await api.client.get("/metrics")).text()
    ops = "helpdesk_graphql_operations_total"
    assert sample(text, ops, operation="Anonymous", outcome="invalid") == 1
    assert sample(text, ops, operation="Buggy", outcome="error") == 1


async def test_a_subscription_the_client_completes_is_ok(api: Api) -> None:
    with capture_logs() as logs:
        socket = await connect(api.client, {"token": api.token("agent-1", "agent")})
        # A replay runs per subscriber (shared executions log no operation per member).
        op_id = await socket.subscribe('subscription Live { ticketEvents(after: "0") { id } }')
        await socket.ws.send_json({"type": "ping"})
        assert (await socket.ws.receive_json())["type"] == "pong"
        await socket.ws.send_json({"id": op_id, "type": "complete"})
        await socket.ws.send_json({"type": "ping"})
        assert (await socket.ws.receive_json())["type"] == "pong"
        await socket.close()

        def logged() -> list[dict[str, Any]]:
            return [e for e in logs if e["event"] == "operation" and e["operation"] == "Live"]

        for _ in range(100):  # the server ends the operation once it has seen the complete
            if logged():
                break
            await asyncio.sleep(0.05)
    assert [e["outcome"] for e in logged()] == ["ok"]


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if netloc[1] else host))


@asynccontextmanager
async def behind_a_proxy(backend: Backend) -> AsyncIterator[tuple[TcpProxy, TestClient]]:
    """The app reaching PostgreSQL through a proxy the test can cut."""
    if backend.name != "services":
        pytest.skip("needs PostgreSQL: HELPDESK_TEST_DATABASE_URL")
    parts = urlsplit(backend.database_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        url = through(backend.database_url, proxy.port)
        async with serve(backend, database_url=url) as client:
            yield proxy, client


async def test_an_outage_in_the_middle_is_unavailable_then_recovers(backend: Backend) -> None:
    async with behind_a_proxy(backend) as (proxy, client):
        ok = await client.post("/graphql", json={"query": TICKETS}, headers=bearer())
        assert ok.status == 200 and "errors" not in await ok.json()

        await proxy.cut()
        codes = set()
        for _ in range(5):
            response = await client.post(
                "/graphql",
                json={"query": TICKETS},
                headers={**bearer("bob"), "Accept": GRAPHQL_RESPONSE},
            )
            assert response.status == 503
            assert "Retry-After" in response.headers
            codes |= {e["extensions"]["code"] for e in (await response.json())["errors"]}
        assert codes == {"SERVICE_UNAVAILABLE"}
        variables = {"input": {"categorySlug": "app-help", "question": "Q"}}
        response = await client.post(
            "/graphql",
            json={"query": CREATE, "variables": variables},
            headers={**bearer("bob"), "Accept": GRAPHQL_RESPONSE},
        )
        body = await response.json()
        assert response.status == 503, body
        assert not (body.get("data") or {}).get("createTicket")  # no payload that looks final
        assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        text = await (await client.get("/metrics")).text()
        assert dependency_up(text, "database") == 0

        await proxy.restore()
        for _ in range(50):  # the app recovers by itself, without a restart
            response = await client.post("/graphql", json={"query": TICKETS}, headers=bearer("bob"))
            if response.status == 200 and "errors" not in await response.json():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no recovery")
        await client.get("/readyz")
        text = await (await client.get("/metrics")).text()
        assert dependency_up(text, "database") == 1


async def test_the_event_feed_logs_an_outage_once_and_its_end_once(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    async with behind_a_proxy(backend) as (proxy, client):
        await client.post("/graphql", json={"query": TICKETS}, headers=bearer())
        with caplog.at_level("WARNING", logger="helpdesk.live"):
            await proxy.cut()
            await asyncio.sleep(3.5)  # the feed polls the log every second meanwhile
            await proxy.restore()
            await asyncio.sleep(2.5)
        lines = [r.getMessage() for r in caplog.records if r.name == "helpdesk.live"]
        down = [line for line in lines if "event log unavailable" in line]
        up = [line for line in lines if "event log available again" in line]
        assert (len(down), len(up)) == (1, 1), lines
