"""CORS for browser frontends, and automatic persisted queries (Apollo APQ)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Api, Backend, serve
from tests.ws import connect

FRONTEND = "https://help.example.com"
CATEGORIES = "{ categories { slug } }"


async def test_no_cors_headers_unless_configured(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": CATEGORIES}, headers={"Origin": FRONTEND}
    )
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_for_configured_origins(backend: Backend) -> None:
    async with serve(backend, cors_origins=(FRONTEND,)) as client:
        preflight = await client.options(
            "/graphql",
            headers={
                "Origin": FRONTEND,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == FRONTEND
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "Access-Control-Allow-Credentials" not in preflight.headers

        response = await client.post(
            "/graphql", json={"query": CATEGORIES}, headers={"Origin": FRONTEND}
        )
        assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
        assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]
        vary = {name.strip() for name in response.headers["Vary"].split(",")}
        assert {"Origin", "Accept", "Authorization"} <= vary

        # Errors from an allowed origin are readable too.
        bad = await client.post(
            "/graphql", data=b"{", headers={"Origin": FRONTEND, "Content-Type": "application/json"}
        )
        assert bad.status == 400 and bad.headers["Access-Control-Allow-Origin"] == FRONTEND

        evil = "https://evil.example.net"
        refused = await client.options(
            "/graphql", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
        )
        assert refused.status == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
        other = await client.post("/graphql", json={"query": CATEGORIES}, headers={"Origin": evil})
        assert "Access-Control-Allow-Origin" not in other.headers


async def test_websocket_handshakes_follow_the_same_origins(backend: Backend) -> None:
    async with serve(backend, cors_origins=(FRONTEND,)) as client:
        socket = await client.ws_connect(
            "/graphql", protocols=["graphql-transport-ws"], headers={"Origin": FRONTEND}
        )
        await socket.close()
        with pytest.raises(Exception, match="403"):
            await client.ws_connect(
                "/graphql",
                protocols=["graphql-transport-ws"],
                headers={"Origin": "https://evil.example.net"},
            )


def persisted(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def send(client: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/graphql", json=body)
    return response.status, json.loads(await response.read())


async def test_apq_round_trip(api: Api) -> None:
    query = "query Sections { categories { slug } }"
    extensions = persisted(query)
    status, body = await send(api.client, {"extensions": extensions})
    assert status == 200
    assert body == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    status, body = await send(api.client, {"query": query, "extensions": extensions})
    assert status == 200 and body["data"]["categories"]
    status, by_hash = await send(api.client, {"extensions": extensions})
    assert by_hash == body
    # Over GET too (see tests/test_http_caching.py for what caches may keep).
    response = await api.client.get(
        "/graphql", params={"extensions": json.dumps(extensions)}, headers={"Accept": "*/*"}
    )
    assert response.status == 200 and (await response.json()) == body


async def test_apq_with_variables_and_graphql_response_json(api: Api) -> None:
    query = "query Named($l: Locale) { categories { name(locale: $l) } }"
    await send(api.client, {"query": query, "extensions": persisted(query)})
    response = await api.client.post(
        "/graphql",
        json={"extensions": persisted(query), "variables": {"l": "EN"}},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status == 200
    assert (await response.json(content_type=None))["data"]["categories"]
    missing = await api.client.post(
        "/graphql",
        json={"extensions": persisted("{ __typename }")},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert missing.status == 400
    body = await missing.json(content_type=None)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    ("extensions", "code"),
    [
        ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "xyz"}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": {"version": 1}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": "abc"}, "PERSISTED_QUERY_INVALID"),
    ],
)
async def test_apq_malformed_extensions(api: Api, extensions: dict[str, Any], code: str) -> None:
    status, body = await send(api.client, {"extensions": extensions})
    assert status == 200
    assert body["errors"][0]["extensions"]["code"] == code and "data" not in body


async def test_apq_hash_must_match_the_query(api: Api) -> None:
    status, body = await send(
        api.client, {"query": CATEGORIES, "extensions": persisted("{ __typename }")}
    )
    assert status == 200 and "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    # Nothing was registered under the hash.
    _, body = await send(api.client, {"extensions": persisted("{ __typename }")})
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_apq_cache_is_bounded_and_can_be_turned_off(backend: Backend) -> None:
    async with serve(backend, persisted_queries=2) as client:
        queries = ["{ a: __typename }", "{ b: __typename }", "{ c: __typename }"]
        for query in queries:
            await send(client, {"query": query, "extensions": persisted(query)})
        _, body = await send(client, {"extensions": persisted(queries[0])})
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        _, body = await send(client, {"extensions": persisted(queries[2])})
        assert body["data"] == {"c": "Query"}
    async with serve(backend, persisted_queries=0) as client:
        _, body = await send(client, {"extensions": persisted(CATEGORIES)})
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"
        # Plain queries with an APQ-aware client still work.
        _, body = await send(client, {"query": CATEGORIES})
        assert body["data"]["categories"]


async def test_persisted_query_runs_under_the_same_limits(api: Api) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    _, body = await send(api.client, {"query": query, "extensions": persisted(query)})
    assert body["errors"][0]["extensions"]["limit"] == "aliases"
    _, body = await send(api.client, {"extensions": persisted(query)})
    assert body["errors"][0]["extensions"]["limit"] == "aliases"


async def test_websocket_operations_send_query_text(api: Api) -> None:
    # APQ is an HTTP protocol: over graphql-transport-ws, the query text is required.
    socket = await connect(api.client)
    try:
        await socket.ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"extensions": persisted(CATEGORIES)}}
        )
        message = await socket.receive()
        assert message["type"] == "closed" and message["code"] == 4400
    finally:
        await socket.close()
