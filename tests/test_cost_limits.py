"""The query cost (node) limit, bounded lists, the execution deadline and the response size cap.

Given a customer's ticket with many events, when an operation could return more nodes than
HELPDESK_MAX_NODES, then it is refused before it runs, over HTTP and WebSocket alike.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

from schema import sizes
from server.graphql_schema import build_schema
from services import pagination
from tests.conftest import Api, Backend, serve
from tests.fixtures import REPLY, create_ticket, row_key
from tests.ws import Socket, connect

GRAPHQL_RESPONSE = "application/graphql-response+json"
README = Path(__file__).resolve().parent.parent / "README.md"


def nested_events(ticket_id: str, levels: int = 4, first: str = "") -> str:
    """`ticket { events { ticket { events { … { id } } } } } }`, as in the attack."""
    selection = "id"
    for _ in range(levels):
        selection = f"events{first} {{ ticket {{ {selection} }} }}"
    return f'{{ ticket(id: "{ticket_id}") {{ {selection} }} }}'


async def post(
    client: TestClient, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> tuple[int, dict[str, Any]]:
    headers = {"Accept": GRAPHQL_RESPONSE, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"query": query, "variables": variables or {}})
    response = await client.post("/graphql", data=body, headers=headers)
    return response.status, json.loads(await response.read())


def refused(status: int, body: dict[str, Any], limit: str) -> dict[str, Any]:
    """The single limit error of a request that never ran."""
    assert status == 400, body
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_LIMIT_EXCEEDED", error
    assert error["extensions"]["limit"] == limit, error
    extensions: dict[str, Any] = error["extensions"]
    return extensions


async def ticket_with_events(api: Api, replies: int) -> str:
    ticket = await create_ticket(api, "ann")
    for i in range(replies):
        data = await api.gql(
            REPLY, {"input": {"ticketId": ticket["id"], "body": f"r{i}"}}, as_="ann"
        )
        assert data["replyToTicket"]["errors"] == []
    return str(ticket["id"])


async def ws_answer(socket: Socket, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The first message answering a subscribe: `next` payload, or the `error` list."""
    op = await socket.subscribe(query, variables)
    message = await socket.receive()
    assert message.get("id") == op, message
    if message["type"] == "next" and not query.lstrip().startswith("subscription"):
        assert await socket.receive() == {"id": op, "type": "complete"}
    return message


def ws_limit(message: dict[str, Any]) -> dict[str, Any]:
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    [error] = errors
    assert error["extensions"]["code"] == "QUERY_LIMIT_EXCEEDED", error
    extensions: dict[str, Any] = error["extensions"]
    return extensions


# --- the node limit ---------------------------------------------------------------------------


async def test_nested_events_of_a_ticket_are_refused_before_running(api: Api) -> None:
    ticket_id = await ticket_with_events(api, 3)
    status, body = await post(api.client, nested_events(ticket_id), token=api.token("ann"))
    extensions = refused(status, body, "nodes")
    assert extensions["max"] == 10_000 and extensions["nodes"] > 10_000
    # Two levels of the same lists stay within the limit and answer.
    status, body = await post(api.client, nested_events(ticket_id, 2), token=api.token("ann"))
    assert status == 200 and "errors" not in body, body
    assert len(body["data"]["ticket"]["events"]) == 4


async def test_nested_events_are_refused_over_websocket(api: Api) -> None:
    ticket_id = await ticket_with_events(api, 1)
    socket = await connect(api.client, {"token": api.token("ann")})
    try:
        message = await ws_answer(socket, nested_events(ticket_id))
        assert message["type"] == "error", message
        assert ws_limit(message)["limit"] == "nodes"
        # The connection stays usable.
        message = await ws_answer(socket, nested_events(ticket_id, 1))
        assert message["type"] == "next" and "errors" not in message["payload"], message
    finally:
        await socket.close()


async def test_the_event_log_page_multiplies_what_is_below_it(api: Api) -> None:
    await ticket_with_events(api, 1)
    query = (
        "{ ticketEvents(first: 100) { edges { node { ticket { events { ticket { events { id } } }"
        " } } } } }"
    )
    status, body = await post(api.client, query, token=api.token("agent", "agent"))
    extensions = refused(status, body, "nodes")
    assert extensions["nodes"] > 10_000
    status, body = await post(
        api.client, query.replace("first: 100", "first: 2"), token=api.token("agent", "agent")
    )
    assert status == 200 and "errors" not in body, body


async def test_sizes_given_by_variables_are_counted(api: Api) -> None:
    ticket_id = await ticket_with_events(api, 1)
    query = nested_events(ticket_id, 3, "(first: $n)").replace(
        "{ ticket(", "query($n: Int) { ticket(", 1
    )
    token = api.token("ann")
    status, body = await post(api.client, query, {"n": 100}, token=token)
    assert refused(status, body, "nodes")["nodes"] > 10_000
    status, body = await post(api.client, query, {"n": 5}, token=token)
    assert status == 200 and "errors" not in body, body
    socket = await connect(api.client, {"token": token})
    try:
        message = await ws_answer(socket, query, {"n": 100})
        assert ws_limit(message)["limit"] == "nodes"
        message = await ws_answer(socket, query, {"n": 5})
        assert message["type"] == "next" and "errors" not in message["payload"], message
    finally:
        await socket.close()


async def test_a_subscription_is_counted_per_event(api: Api) -> None:
    socket = await connect(api.client, {"token": api.token("agent", "agent")})
    heavy = (
        "subscription { ticketEvents { ticket { events(first: 100) { ticket {"
        " events(first: 100) { id } } } } } }"
    )
    try:
        message = await ws_answer(socket, heavy)
        extensions = ws_limit(message)
        assert extensions["limit"] == "nodes" and extensions["nodes"] > 10_000
        variables = heavy.replace("subscription {", "subscription($n: Int) {").replace(
            "first: 100", "first: $n"
        )
        message = await ws_answer(socket, variables, {"n": 100})
        assert ws_limit(message)["limit"] == "nodes"
        light = "subscription { ticketEvents { id ticket { events(first: 5) { id } } } }"
        op = await socket.subscribe(light)
        await socket.nothing_within(0.2)  # accepted, waiting for events
        await create_ticket(api, "ann")
        data = await socket.next_data(op)
        assert len(data["ticketEvents"]["ticket"]["events"]) == 1
    finally:
        await socket.close()


def readme_queries() -> list[dict[str, Any]]:
    """Every request body of the README's curl examples."""
    text = README.read_text()
    return [json.loads(raw) for raw in re.findall(r"(?:gql|agent) '(\{.*?\})'", text, re.S)]


async def test_every_documented_query_passes_the_default_limit(backend: Backend) -> None:
    bodies = readme_queries()
    assert len(bodies) >= 15
    for max_nodes, passes in ((10_000, True), (3, False)):
        async with serve(backend, max_nodes=max_nodes) as client:
            api = Api(client)
            if passes:
                await create_ticket(api, "ann")
            for body in bodies:
                for role in ("customer", "agent"):
                    token = api.token("ann" if role == "customer" else "a1", role)
                    _, answer = await post(client, body["query"], body.get("variables"), token)
                    codes = {e["extensions"].get("code") for e in answer.get("errors", [])}
                    assert ("QUERY_LIMIT_EXCEEDED" not in codes) is passes, (body, answer)


async def test_limit_is_configurable(backend: Backend) -> None:
    async with serve(backend, max_nodes=5) as client:
        status, body = await post(client, "{ categories { slug children { slug } } }")
        assert refused(status, body, "nodes")["max"] == 5


# --- bounded lists -----------------------------------------------------------------------------


async def test_plain_lists_never_answer_more_than_their_declared_maximum(api: Api) -> None:
    ticket_id = await ticket_with_events(api, 55)  # 56 events, 55 messages
    token = api.token("ann")
    query = (
        f'{{ ticket(id: "{ticket_id}") {{ events {{ id }} messages {{ id }}'
        " timeline { __typename } big: events(first: 100) { id } few: messages(first: 3) { id }"
        " some: timeline(first: 7) { __typename } } }"
    )
    status, body = await post(api.client, query, token=token)
    assert status == 200 and "errors" not in body, body
    ticket = body["data"]["ticket"]
    default = sizes.TICKET_LIST.default
    assert len(ticket["events"]) == default and len(ticket["messages"]) == default
    assert len(ticket["timeline"]) == default
    assert len(ticket["big"]) == 56 and len(ticket["few"]) == 3 and len(ticket["some"]) == 7
    # The first ones, oldest first.
    all_events = [e["id"] for e in ticket["big"]]
    assert [e["id"] for e in ticket["events"]] == all_events[:default]
    status, body = await post(
        api.client,
        f'{{ ticket(id: "{ticket_id}") {{ events(first: 101) {{ id }} }} }}',
        token=token,
    )
    assert status == 400 and body["errors"][0]["extensions"]["code"] == "VALIDATION"
    _, body = await post(
        api.client,
        f'{{ ticket(id: "{ticket_id}") {{ messages(first: -1) {{ id }} }} }}',
        token=token,
    )
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body


async def test_the_service_reads_at_most_the_limit_of_each_ticket(api: Api) -> None:
    from models import Role
    from services import ticket_reads
    from services.viewer import Viewer

    first = await ticket_with_events(api, 4)
    second = await ticket_with_events(api, 1)
    viewer = Viewer(id="ann", name="Ann", role=Role.CUSTOMER)
    events = await ticket_reads.events_of(
        viewer=viewer, ticket_ids=[row_key(first), row_key(second)], limit=3
    )
    assert [len(events[row_key(first)]), len(events[row_key(second)])] == [3, 2]
    messages = await ticket_reads.messages_of(viewer=viewer, ticket_ids=[row_key(first)], limit=2)
    assert len(messages[row_key(first)]) == 2


def test_every_list_field_declares_its_size() -> None:
    schema = build_schema()._schema
    undeclared = []
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        if type_.name == "Mutation" or type_.name.endswith("Payload"):
            continue  # payload errors are built by the mutation, not read
        for name, field in type_.fields.items():
            inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if isinstance(inner, GraphQLList) and sizes.size_of(field.extensions) is None:
                undeclared.append(f"{type_.name}.{name}")
    assert undeclared == []
    assert (sizes.PAGE.maximum, sizes.PAGE.default) == (
        pagination.MAX_PAGE,
        pagination.DEFAULT_PAGE,
    )


# --- backstops ---------------------------------------------------------------------------------


async def test_an_operation_past_the_deadline_is_a_typed_error(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services import faq

    async def stuck(**_: Any) -> list[Any]:
        await asyncio.sleep(60)
        return []

    monkeypatch.setattr(faq, "list_faq", stuck)
    async with serve(backend, operation_timeout=0.2) as client:
        status, body = await post(client, "{ faq { slug } }")
        extensions = refused(status, body, "time")
        assert extensions["max"] == 0.2
        socket = await connect(client)
        try:
            message = await ws_answer(socket, "{ faq { slug } }")
            assert ws_limit(message)["limit"] == "time"
            message = await ws_answer(socket, "{ categories { slug } }")
            assert message["type"] == "next" and "errors" not in message["payload"]
        finally:
            await socket.close()


async def test_a_response_over_the_size_cap_is_a_typed_error(backend: Backend) -> None:
    async with serve(backend, max_response_bytes=300) as client:
        query = "{ categories { slug name nameEn nameRu children { slug name } } }"
        status, body = await post(client, query)
        extensions = refused(status, body, "responseBytes")
        assert extensions["max"] == 300 and extensions["bytes"] > 300
        status, body = await post(client, "{ categories { slug } }")
        assert status == 200 and "errors" not in body
        socket = await connect(client)
        try:
            message = await ws_answer(socket, query)
            assert message["type"] == "next"
            assert ws_limit(message)["limit"] == "responseBytes"
        finally:
            await socket.close()


def test_the_limits_are_read_from_the_environment() -> None:
    from server.config import ConfigError, Settings

    settings = Settings.from_env(
        {
            "HELPDESK_MAX_NODES": "500",
            "HELPDESK_OPERATION_TIMEOUT": "2.5",
            "HELPDESK_MAX_RESPONSE_BYTES": "4096",
        }
    )
    assert (settings.max_nodes, settings.operation_timeout, settings.max_response_bytes) == (
        500,
        2.5,
        4096,
    )
    for name, value in (
        ("HELPDESK_MAX_NODES", "0"),
        ("HELPDESK_OPERATION_TIMEOUT", "0"),
        ("HELPDESK_OPERATION_TIMEOUT", "soon"),
        ("HELPDESK_OPERATION_TIMEOUT", "inf"),
        ("HELPDESK_MAX_RESPONSE_BYTES", "-1"),
        ("HELPDESK_ATTACHMENTS_PER_MESSAGE", str(sizes.ATTACHMENTS.maximum + 1)),
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({name: value})
