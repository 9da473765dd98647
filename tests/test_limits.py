"""Operation limits: refused before execution, quickly and clearly, over HTTP and WebSocket."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from graphql import get_introspection_query

from tests.conftest import Api, Backend, serve
from tests.ws import connect

GRAPHQL_RESPONSE = "application/graphql-response+json"


def nested(depth: int) -> str:
    """`tickets` → `edges` → `node` → `followUpOf`… down to `depth` field levels."""
    chain = ["tickets", "edges", "node"] + ["followUpOf"] * 40
    selection = "id"
    for name in reversed(chain[: depth - 1]):
        selection = f"{name} {{ {selection} }}"
    return "{ " + selection + " }"


async def send(
    client: TestClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any], float]:
    headers = {"Accept": GRAPHQL_RESPONSE, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    response = await client.post(
        "/graphql", data=json.dumps({"query": query, "variables": variables}), headers=headers
    )
    elapsed = time.perf_counter() - started
    return response.status, json.loads(await response.read()), elapsed


def limit_of(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("limit") for e in body.get("errors", [])}


async def test_depth_limit(api: Api) -> None:
    token = api.token("ann")
    status, body, _ = await send(api.client, nested(10), token=token)
    assert status == 200, body
    status, body, _ = await send(api.client, nested(11), token=token)
    assert status == 400
    assert limit_of(body) == {"depth"}
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_LIMIT_EXCEEDED", "limit": "depth", "max": 10}
    assert "11 levels deep" in error["message"] and "data" not in body


async def test_depth_counts_through_fragments(api: Api) -> None:
    query = """
    query { ...A }
    fragment A on Query { tickets { ...B } }
    fragment B on TicketConnection { edges { node { followUpOf { followUpOf { followUpOf {
      followUpOf { followUpOf { messages { ...C } } } } } } } } }
    fragment C on Message { id author { sub } }
    """
    status, body, _ = await send(api.client, query, token=api.token("ann"))
    assert status == 400 and limit_of(body) == {"depth"}


async def test_alias_flood(api: Api) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(31))
    status, body, _ = await send(api.client, "{ " + aliases + " }")
    assert status == 400 and "aliases" in limit_of(body)
    fine = " ".join(f"a{i}: __typename" for i in range(20))
    status, body, _ = await send(api.client, "{ " + fine + " }")
    assert status == 200 and len(body["data"]) == 20


async def test_aliases_in_a_fragment_count_at_every_use(api: Api) -> None:
    fragment = " ".join(f"a{i}: slug" for i in range(8))
    query = "{ categories { ...F ...F ...F ...F } } fragment F on Category { " + fragment + " }"
    status, body, _ = await send(api.client, query)
    assert status == 400 and limit_of(body) == {"aliases"}


async def test_root_field_limit(api: Api) -> None:
    query = "{ " + " ".join(["categories { slug }"] * 21) + " }"
    status, body, _ = await send(api.client, query)
    assert status == 400 and limit_of(body) == {"rootFields"}


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_page_size_over_100_is_refused_as_a_literal(api: Api, argument: str) -> None:
    query = f"{{ tickets({argument}: 101) {{ totalCount }} }}"
    status, body, _ = await send(api.client, query, token=api.token("ann"))
    assert status == 400
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION" and error["extensions"]["max"] == 100


async def test_page_size_over_100_is_refused_as_a_variable(api: Api) -> None:
    query = "query($n: Int) { tickets(first: $n) { totalCount } }"
    status, body, _ = await send(api.client, query, {"n": 5000}, token=api.token("ann"))
    assert status == 400 and "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    status, body, _ = await send(api.client, query, {"n": 100}, token=api.token("ann"))
    assert status == 200 and body["data"]["tickets"]["totalCount"] == 0


async def test_token_and_size_limits(api: Api) -> None:
    many_tokens = "{ " + "__typename " * 2100 + "}"
    status, body, _ = await send(api.client, many_tokens)
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    huge_comment = "{ __typename }\n#" + "x" * 30_000
    status, body, _ = await send(api.client, huge_comment)
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_fragment_cycles_are_refused(api: Api) -> None:
    query = """
    { categories { ...A } }
    fragment A on Category { slug ...B }
    fragment B on Category { id ...A }
    """
    status, body, _ = await send(api.client, query)
    assert status == 400
    assert any("Cannot spread fragment" in e["message"] for e in body["errors"])


async def test_attacks_are_refused_in_milliseconds(api: Api) -> None:
    # A fragment "bomb": each level doubles the selection; expanded it would be 2^30 fields.
    levels = 30
    fragments = [f"fragment F{i} on Category {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Category {{ a: slug }}")
    bomb = "{ categories { ...F0 } } " + " ".join(fragments)
    deep = "{" + "__typename {" * 150 + "}" * 150 + "}"
    wide_introspection = (
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    )
    attacks = [bomb, deep, nested(40), wide_introspection]
    for attack in attacks:
        status, body, elapsed = await send(api.client, attack)
        assert status == 400, body
        assert elapsed < 1.0, (attack[:40], elapsed)  # generous: the point is no blow-up
    huge_variables = {"filter": {"search": "x" * 2_000_000}}
    status, body, _ = await send(api.client, "{ __typename }", huge_variables)
    assert status == 413


async def test_introspection_query_of_tools_still_works(api: Api) -> None:
    status, body, _ = await send(api.client, get_introspection_query(descriptions=True))
    assert status == 200, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_limits_are_configurable(backend: Backend) -> None:
    async with serve(backend, max_depth=3, max_aliases=1, max_root_fields=2) as client:
        status, body, _ = await send(client, "{ categories { slug } }")
        assert status == 200
        status, body, _ = await send(client, "{ a: categories { slug } b: categories { slug } }")
        assert status == 400 and limit_of(body) == {"aliases"}
        status, body, _ = await send(client, "{ categories { slug } __typename faq { slug } }")
        assert status == 400 and limit_of(body) == {"rootFields"}


async def test_limits_apply_to_subscriptions(api: Api) -> None:
    socket = await connect(api.client, {"token": api.token("agent", "agent")})
    try:
        deep = (
            "subscription { ticketEvents { ticket { followUpOf { followUpOf { followUpOf { "
            "followUpOf { followUpOf { followUpOf { followUpOf { followUpOf { followUpOf { id "
            "} } } } } } } } } } } }"
        )
        op = await socket.subscribe(deep)
        message = await socket.receive()
        assert message["type"] == "error" and message["id"] == op
        assert message["payload"][0]["extensions"]["limit"] == "depth"
        aliases = " ".join(f"a{i}: id" for i in range(31))
        op = await socket.subscribe("subscription { ticketEvents { " + aliases + " } }")
        message = await socket.receive()
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["limit"] == "aliases"
        # The connection is still usable after refused operations.
        op = await socket.subscribe("subscription { ticketEvents { id } }")
        await socket.nothing_within(0.2)
        # A document that does not parse (here: over the size limit) is a protocol error: 4400.
        await socket.subscribe("subscription { ticketEvents { id } } #" + "x" * 30_000)
        assert await socket.receive() == {"type": "closed", "code": 4400}
    finally:
        await socket.close()


async def test_queries_over_websocket_are_limited_too(api: Api) -> None:
    socket = await connect(api.client, {"token": api.token("ann")})
    try:
        op = await socket.subscribe(nested(11))
        message = await socket.receive()
        assert message["type"] == "error" and message["id"] == op
        assert message["payload"][0]["extensions"]["limit"] == "depth"
    finally:
        await socket.close()


async def test_websocket_messages_over_the_body_limit_close_the_socket(backend: Backend) -> None:
    async with serve(backend, max_body_bytes=4096) as client:
        socket = await connect(client)
        await socket.subscribe("subscription { ticketEvents { id } } #" + "x" * 5000)
        message = await socket.receive()
        assert message == {"type": "closed", "code": 1009}


async def test_nul_characters_are_refused_with_typed_errors(api: Api) -> None:
    """U+0000 cannot be stored in PostgreSQL: every backend refuses it the same way."""
    token = api.token("ann")
    create = (
        "mutation($i: CreateTicketInput!) { createTicket(input: $i) { ticket { id } "
        "errors { code field } } }"
    )
    for fields, error in (
        ({"question": "Hello\u0000there"}, {"code": "VALIDATION", "field": "question"}),
        ({"categorySlug": "app\u0000help"}, {"code": "UNKNOWN_CATEGORY", "field": "categorySlug"}),
        ({"clientMutationId": "k\u0000"}, {"code": "VALIDATION", "field": "clientMutationId"}),
    ):
        values = {"categorySlug": "app-help", "question": "Hello", **fields}
        status, body, _ = await send(api.client, create, {"i": values}, token=token)
        assert status == 200 and body["data"]["createTicket"]["errors"] == [error]
    for filter_ in ({"search": "a\u0000b"},):
        status, body, _ = await send(
            api.client,
            "query($f: TicketFilter) { tickets(filter: $f) { totalCount } }",
            {"f": filter_},
            token=api.token("agent", "agent"),
        )
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    status, body, _ = await send(
        api.client,
        '{ tickets(filter: {categorySlug: "x\\u0000"}) { totalCount } }',
        token=token,
    )
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_CATEGORY"
    status, body, _ = await send(api.client, "{ tickets { totalCount } }", token=token)
    assert body["data"]["tickets"]["totalCount"] == 0  # nothing was created


@pytest.mark.parametrize("raw", ["²", "١٢", "99999999999999999999", "-1", "1.0", " 1"])
async def test_ids_that_are_not_plain_numbers_name_nothing(api: Api, raw: str) -> None:
    token = api.token("ann")
    status, body, _ = await send(
        api.client, "query($id: ID!) { ticket(id: $id) { id } }", {"id": raw}, token=token
    )
    assert status == 200 and body == {"data": {"ticket": None}}
    status, body, _ = await send(
        api.client,
        "query($a: String) { ticketEvents(after: $a) { edges { cursor } } }",
        {"a": raw},
        token=token,
    )
    assert status == 200
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
