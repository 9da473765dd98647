"""GraphQL over HTTP: media types, status codes, methods and malformed requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.conftest import Api, Backend, serve

GRAPHQL_RESPONSE = "application/graphql-response+json"
CATEGORIES = "{ categories { slug } }"


async def body_of(response: ClientResponse) -> Any:
    return json.loads(await response.read())


async def post(
    client: TestClient, payload: Any, accept: str | None = GRAPHQL_RESPONSE, **headers: str
) -> ClientResponse:
    all_headers = {"Content-Type": "application/json", **headers}
    if accept is not None:
        all_headers["Accept"] = accept
    return await client.post("/graphql", data=json.dumps(payload), headers=all_headers)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.9, application/json;q=0.5", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.4, application/json;q=0.8", "application/json"),
        ("text/html, */*;q=0.8", "application/json"),
    ],
)
async def test_response_media_type_follows_accept(
    api: Api, accept: str | None, media_type: str
) -> None:
    response = await post(api.client, {"query": CATEGORIES}, accept=accept)
    assert response.status == 200
    assert response.content_type == media_type
    assert response.charset in (None, "utf-8")
    assert "categories" in (await body_of(response))["data"]


async def test_unacceptable_media_type_is_406(api: Api) -> None:
    response = await post(api.client, {"query": CATEGORIES}, accept="text/plain")
    assert response.status == 406
    body = await body_of(response)
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert "data" not in body


REQUEST_ERRORS = [
    ({"query": "{ categories { slug "}, "GRAPHQL_PARSE_FAILED"),
    ({"query": "{ categories { nope } }"}, "GRAPHQL_VALIDATION_FAILED"),
    ({"query": "query A { categories { slug } }", "operationName": "B"}, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("payload", "code"), REQUEST_ERRORS)
async def test_request_errors_are_400_without_data_for_graphql_response_json(
    api: Api, payload: dict[str, str], code: str
) -> None:
    response = await post(api.client, payload)
    assert response.status == 400
    assert response.content_type == GRAPHQL_RESPONSE
    body = await body_of(response)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


@pytest.mark.parametrize(("payload", "code"), REQUEST_ERRORS)
async def test_request_errors_are_200_without_data_for_application_json(
    api: Api, payload: dict[str, str], code: str
) -> None:
    response = await post(api.client, payload, accept="application/json")
    assert response.status == 200
    body = await body_of(response)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code


async def test_variable_coercion_failure_is_a_request_error(api: Api) -> None:
    query = "query One($id: ID!) { ticket(id: $id) { id } }"
    response = await post(api.client, {"query": query, "variables": {"id": {"no": 1}}})
    assert response.status == 400
    assert "data" not in await body_of(response)
    missing = await post(api.client, {"query": query}, accept="application/json")
    assert missing.status == 200
    assert "data" not in await body_of(missing)


async def test_field_errors_keep_data_and_status_200(api: Api) -> None:
    # Not signed in: `tickets` fails, `categories` still answers.
    response = await post(api.client, {"query": "{ categories { slug } tickets { totalCount } }"})
    assert response.status == 200
    body = await body_of(response)
    assert body["data"] is None or "categories" in (body["data"] or {})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"] == ["tickets"]


async def test_get_runs_queries(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={
            "query": "query Q($l: Locale) { categories { name(locale: $l) } }",
            "variables": '{"l": "EN"}',
        },
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert response.status == 200
    assert (await body_of(response))["data"]["categories"]


async def test_mutations_over_get_are_405(api: Api) -> None:
    token = api.token("ann")
    response = await api.client.get(
        "/graphql",
        params={"query": 'mutation { takeTicket(input: {ticketId: "1"}) { errors { code } } }'},
        headers={"Accept": GRAPHQL_RESPONSE, "Authorization": f"Bearer {token}"},
    )
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    body = await body_of(response)
    assert body["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "data" not in body


async def test_other_methods_are_405(api: Api) -> None:
    response = await api.client.put("/graphql", json={"query": CATEGORIES})
    assert response.status == 405
    assert (await body_of(response))["errors"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b'{"query": "{ categories { slug } }"', "application/json", 400, "BAD_REQUEST"),
        (b"", "application/json", 400, "BAD_REQUEST"),
        (b"[]", "application/json", 400, "BAD_REQUEST"),
        (b'"{ categories { slug } }"', "application/json", 400, "BAD_REQUEST"),
        (b"123", "application/json", 400, "BAD_REQUEST"),
        (b"{}", "application/json", 400, "BAD_REQUEST"),
        (b'{"query": 1}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": ["{ me { id } }"]}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ me { id } }", "variables": "x"}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ me { id } }", "variables": []}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ me { id } }", "operationName": 5}', "application/json", 400, "BAD_REQUEST"),
        (b'{"query": "{ me { id } }", "extensions": 5}', "application/json", 400, "BAD_REQUEST"),
        (b"\xff\xfe{", "application/json", 400, "BAD_REQUEST"),
        (b"query=%7B%20me%20%7B%20id%20%7D%20%7D", "application/x-www-form-urlencoded", 415, None),
        (b"{ me { id } }", "application/graphql", 415, None),
        (b"{ me { id } }", "text/plain", 415, None),
        (b'{"query": "{ me { id } }"}', "", 415, None),
    ],
)
async def test_malformed_requests_get_4xx_with_a_json_error(
    api: Api, raw: bytes, content_type: str, status: int, code: str | None
) -> None:
    headers = {"Accept": GRAPHQL_RESPONSE}
    if content_type:
        headers["Content-Type"] = content_type
    response = await api.client.post("/graphql", data=raw, headers=headers)
    assert response.status == status
    assert response.content_type == GRAPHQL_RESPONSE
    body = await body_of(response)
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == (code or "UNSUPPORTED_MEDIA_TYPE")


async def test_missing_query_over_get_is_400(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "application/json"})
    assert response.status == 400
    assert (await body_of(response))["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_utf8_bodies_in_and_out(api: Api) -> None:
    query = "{ categories { slug name(locale: RU) } } # комментарий"
    response = await api.client.post(
        "/graphql",
        data=json.dumps({"query": query}, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status == 200
    names = [c["name"] for c in (await body_of(response))["data"]["categories"]]
    assert any(any("а" <= ch <= "я" for ch in name.lower()) for name in names)


async def test_batching_is_off_by_default(api: Api) -> None:
    response = await post(api.client, [{"query": CATEGORIES}])
    assert response.status == 400
    assert "Batching is off" in (await body_of(response))["errors"][0]["message"]


async def test_batching_when_turned_on_is_capped(backend: Backend) -> None:
    async with serve(backend, max_batch=2) as client:
        two = await post(client, [{"query": CATEGORIES}, {"query": "{ __typename }"}])
        assert two.status == 200
        body = await body_of(two)
        assert [sorted(item["data"]) for item in body] == [["categories"], ["__typename"]]
        three = await post(client, [{"query": CATEGORIES}] * 3)
        assert three.status == 400
        empty = await post(client, [])
        assert empty.status == 400
        not_objects = await post(client, [1, 2])
        assert not_objects.status == 400


async def test_bodies_over_the_limit_are_413(backend: Backend) -> None:
    async with serve(backend, max_body_bytes=4096) as client:
        padding = "x" * 5000
        response = await post(client, {"query": CATEGORIES, "variables": {"pad": padding}})
        assert response.status == 413
        body = await body_of(response)
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        fine = await post(client, {"query": CATEGORIES})
        assert fine.status == 200


async def test_client_mistakes_leave_no_traceback(
    api: Api, capfd: pytest.CaptureFixture[str]
) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        for payload in (b"{", b"[1]", b'{"query": 1}', b'{"query": "{ nope }"}'):
            await api.client.post(
                "/graphql", data=payload, headers={"Content-Type": "application/json"}
            )
        await api.client.get("/graphql", params={"query": "mutation { x }"})
        await api.client.post("/graphql", data=b"x", headers={"Content-Type": "text/plain"})
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert not [entry for entry in logs if entry.get("log_level") in ("error", "critical")]
