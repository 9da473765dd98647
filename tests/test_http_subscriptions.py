"""Subscriptions over HTTP: GraphQL over SSE and multipart, with the WebSocket's rules."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.app import SHARED
from tests.conftest import Api, Backend, serve
from tests.fixtures import REPLY, create_ticket
from tests.http_stream import ACCEPTS, request, subscribe
from tests.test_operations import sample
from tests.ws import connect

EVENTS = """subscription($ticketId: ID, $after: String) {
  ticketEvents(ticketId: $ticketId, after: $after) {
    id kind ticket { id number } message { body internal }
  }
}"""
CURSORS = "query($t: ID) { ticketEvents(ticketId: $t) { edges { cursor node { id kind } } } }"
KINDS = pytest.mark.parametrize("kind", ["sse", "multipart"])


async def cursors(api: Api, ticket_id: str | None, as_: str, role: str = "customer") -> list[str]:
    data = await api.gql(CURSORS, {"t": ticket_id}, as_=as_, role=role)
    return [edge["cursor"] for edge in data["ticketEvents"]["edges"]]


@KINDS
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_replay_after_a_cursor_then_live(api: Api, kind: str, method: str) -> None:
    ticket = await create_ticket(api, "ann")
    for i in range(2):
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": f"m{i}"}}, as_="ann")
    first, *rest = await cursors(api, ticket["id"], "ann")
    stream = await subscribe(
        api.client,
        kind,
        EVENTS,
        {"ticketId": ticket["id"], "after": first},
        token=api.token("ann"),
        method=method,
    )
    try:
        replayed = [(await stream.next())["ticketEvents"]["id"] for _ in rest]
        assert replayed == rest
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "live"}}, as_="ann")
        live = (await stream.next())["ticketEvents"]
        assert live["message"] == {"body": "live", "internal": False}
        assert live["id"] not in replayed
    finally:
        stream.close()


@KINDS
async def test_a_customer_sees_only_her_events_and_no_internal_notes(api: Api, kind: str) -> None:
    mine = await create_ticket(api, "ann")
    (created,) = await cursors(api, mine["id"], "ann")
    stream = await subscribe(api.client, kind, EVENTS, {"after": created}, token=api.token("ann"))
    try:
        await create_ticket(api, "bob")
        note = {"ticketId": mine["id"], "body": "note", "internal": True}
        await api.gql(REPLY, {"input": note}, as_="agent-1", role="agent")
        reply = {"ticketId": mine["id"], "body": "hello"}
        await api.gql(REPLY, {"input": reply}, as_="agent-1", role="agent")
        seen = (await stream.next())["ticketEvents"]
        assert seen["ticket"]["id"] == mine["id"]
        assert seen["message"] == {"body": "hello", "internal": False}
    finally:
        stream.close()


async def groups_become(api: Api, count: int) -> None:
    """Group bookkeeping follows the requests asynchronously: wait (bounded) for it."""
    for _ in range(100):
        if api.client.server.app[SHARED].group_count == count:
            return
        await asyncio.sleep(0.05)
    assert api.client.server.app[SHARED].group_count == count


async def test_streams_and_sockets_share_one_execution(api: Api) -> None:
    query = "subscription { ticketEvents { id kind ticket { number } message { body } } }"
    streams = [
        await subscribe(api.client, kind, query, token=api.token(f"agent-{kind}", "agent"))
        for kind in ("sse", "multipart")
    ]
    socket = await connect(api.client, {"token": api.token("agent-ws", "agent")})
    customer = await subscribe(api.client, "sse", query, token=api.token("ann"))
    try:
        op = await socket.subscribe(query)
        await groups_become(api, 2)  # the agents in one, the customer in her own
        ticket = await create_ticket(api, "bob")
        note = {"ticketId": ticket["id"], "body": "internal", "internal": True}
        await api.gql(REPLY, {"input": note}, as_="agent-1", role="agent")
        await create_ticket(api, "ann")
        for_staff = [[await s.next() for _ in range(3)] for s in streams]
        by_socket = [await socket.next_data(op) for _ in range(3)]
        assert for_staff == [by_socket, by_socket]
        assert [d["ticketEvents"]["kind"] for d in by_socket] == [
            "CREATED",
            "MESSAGE_ADDED",
            "CREATED",
        ]
        assert (await customer.next())["ticketEvents"] == by_socket[2]["ticketEvents"]
    finally:
        for stream in (*streams, customer):
            stream.close()
        await socket.close()


@KINDS
async def test_the_token_expiring_ends_the_stream(api: Api, kind: str) -> None:
    ticket = await create_ticket(api, "ann")
    token = api.token("ann", ttl=2)
    stream = await subscribe(api.client, kind, EVENTS, {"ticketId": ticket["id"]}, token=token)
    try:
        event, result = await stream.event()
        while event == "next" and "errors" not in result:  # its creation, if it was still news
            event, result = await stream.event()
        assert event == "next", (event, result)
        assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", result
        assert "expired" in result["errors"][0]["message"]
        assert await stream.event() == ("complete", None)
    finally:
        stream.close()


HEAVY = (
    "subscription { ticketEvents { ticket { events(first: 100) { ticket {"
    " events(first: 100) { id } } } } } }"
)


@KINDS
async def test_the_cost_limit_refuses_before_anything_runs(api: Api, kind: str) -> None:
    stream = await subscribe(api.client, kind, HEAVY, token=api.token("agent-1", "agent"))
    try:
        event, result = await stream.event()
        assert event == "next" and "data" not in result, result
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "QUERY_LIMIT_EXCEEDED"
        assert error["extensions"]["limit"] == "nodes"
        assert await stream.event() == ("complete", None)
    finally:
        stream.close()


@KINDS
async def test_without_a_token_the_subscription_is_unauthenticated(api: Api, kind: str) -> None:
    response = await request(api.client, kind, EVENTS, token="not-a-token")
    assert response.status == 401  # a bad token: refused before anything streams
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    stream = await subscribe(api.client, kind, EVENTS)
    try:
        event, result = await stream.event()
        assert event == "next", result
        assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", result
        assert await stream.event() == ("complete", None)
    finally:
        stream.close()


@pytest.mark.parametrize("accept", [None, "application/json", "application/graphql-response+json"])
async def test_without_a_streaming_accept_a_subscription_is_400(
    api: Api, accept: str | None
) -> None:
    headers = {"Authorization": f"Bearer {api.token('ann')}"}
    if accept:
        headers["Accept"] = accept
    response = await api.client.post("/graphql", json={"query": EVENTS}, headers=headers)
    assert response.status == 400
    (error,) = (await response.json())["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    for way in ("graphql-transport-ws", "text/event-stream", "multipart/mixed"):
        assert way in error["message"]


async def test_a_stream_only_accept_serves_subscriptions_only(api: Api) -> None:
    headers = {"Accept": ACCEPTS["sse"], "Authorization": f"Bearer {api.token('ann')}"}
    body: dict[str, Any] = {
        "query": 'mutation { createTicket(input: {categorySlug: "app-help", question: "x"})'
        " { errors { code } } }"
    }
    response = await api.client.post("/graphql", json=body, headers=headers)
    assert response.status == 406
    assert (await api.gql("{ tickets { totalCount } }", as_="ann"))["tickets"]["totalCount"] == 0
    stream = await subscribe(
        api.client, "sse", "subscription { ticketEvents(after: ", token=api.token("ann")
    )
    try:
        event, result = await stream.event()  # a syntax error, reported through the stream
        assert event == "next" and result["errors"][0]["message"].startswith("Syntax Error")
        assert await stream.event() == ("complete", None)
    finally:
        stream.close()


async def test_streams_per_viewer_are_bounded(backend: Backend) -> None:
    async with serve(backend, max_subscriptions=1) as client:
        api = Api(client)
        first = await subscribe(client, "sse", EVENTS, token=api.token("ann"))
        try:
            response = await request(client, "multipart", EVENTS, token=api.token("ann"))
            assert response.status == 429
            (error,) = (await response.json())["errors"]
            assert error["extensions"] == {
                "code": "QUERY_LIMIT_EXCEEDED",
                "limit": "subscriptions",
                "max": 1,
            }
            other = await subscribe(client, "sse", EVENTS, token=api.token("bob"))
            other.close()
        finally:
            first.close()
        # The same bound holds per WebSocket.
        socket = await connect(client, {"token": api.token("ann")})
        await socket.subscribe(EVENTS)
        second = await socket.subscribe(EVENTS)
        refusal = await socket.receive()
        assert refusal["id"] == second and refusal["type"] == "error", refusal
        await socket.close()
        # The server notices the client gone (within a second) and admits a new stream.
        for _ in range(100):
            response = await request(client, "sse", EVENTS, token=api.token("ann"))
            if response.status == 200:
                break
            await asyncio.sleep(0.1)
        assert response.status == 200
        response.close()


async def open_streams(api: Api) -> float:
    text = await (await api.client.get("/metrics")).text()
    return sample(text, "helpdesk_http_subscription_streams")


async def test_open_streams_are_measured_and_end_when_their_client_leaves(api: Api) -> None:
    stream = await subscribe(api.client, "multipart", EVENTS, token=api.token("ann"))
    assert await open_streams(api) == 1
    stream.close()
    for _ in range(100):
        if await open_streams(api) == 0:
            break
        await asyncio.sleep(0.1)
    assert await open_streams(api) == 0
    await groups_become(api, 0)


async def test_a_stream_carries_cors_and_cache_headers(backend: Backend) -> None:
    frontend = "https://app.example.com"
    async with serve(backend, cors_origins=(frontend,)) as client:
        headers = {
            "Accept": ACCEPTS["sse"],
            "Authorization": f"Bearer {Api(client).token('ann')}",
            "Origin": frontend,
        }
        response = await client.post("/graphql", json={"query": EVENTS}, headers=headers)
        try:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/event-stream"
            assert response.headers["Access-Control-Allow-Origin"] == frontend
            assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]
            assert response.headers["X-Request-Id"]
            assert "no-store" in response.headers["Cache-Control"]
            vary = {v.strip() for v in response.headers["Vary"].split(",")}
            assert {"Origin", "Authorization"} <= vary
        finally:
            response.close()
