"""WebSocket rules: expired tokens, the refused legacy subprotocol, slow clients; subscriptions
over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.extensions import SchemaExtension

from models.enums import Role
from resolvers.context import Context
from server.app import SHARED
from server.fanout import SharedSubscriptions, SharingHandler
from services.viewer import Viewer
from tests.conftest import Api
from tests.fixtures import CREATE, REPLY, TICKETS, create_ticket
from tests.ws import PROTOCOL, Socket, connect

EVENTS = "subscription($after: String) { ticketEvents(after: $after) { id kind } }"
SHARED_EVENTS = "subscription { ticketEvents { id kind message { body } } }"
# Each event carries the conversation so far: the payloads grow with every reply.
GROWING = "subscription { ticketEvents { id kind message { body } ticket { messages { body } } } }"


async def expired_sockets(api: Api, *viewers: tuple[str, str]) -> list[Socket]:
    """Sockets signed in with tokens that have expired since (exp is in whole seconds)."""
    sockets = [
        await connect(api.client, {"token": api.token(sub, role, ttl=2)}) for sub, role in viewers
    ]
    await asyncio.sleep(2.1)  # past exp, whatever the fraction of the second it was signed at
    return sockets


async def refused(socket: Socket, query: str, variables: dict[str, Any] | None = None) -> None:
    op = await socket.subscribe(query, variables)
    message = await socket.receive()
    assert message["id"] == op and message["type"] == "error", message
    assert message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED", message
    assert "expired" in message["payload"][0]["message"]


async def test_an_expired_token_refuses_queries_and_mutations(api: Api) -> None:
    (socket,) = await expired_sockets(api, ("ann", "customer"))
    await refused(socket, "{ me { id } }")
    create = {"input": {"categorySlug": "app-help", "question": "Still signed in?"}}
    await refused(socket, CREATE, create)
    assert (await api.gql(TICKETS, as_="ann"))["tickets"]["totalCount"] == 0  # nothing created
    await socket.close()


async def test_an_expired_token_refuses_new_subscriptions_and_replays(api: Api) -> None:
    await create_ticket(api, "ann")
    customer, agent = await expired_sockets(api, ("ann", "customer"), ("agent-1", "agent"))
    await refused(customer, EVENTS, {"after": "0"})  # the replay would send the whole history
    await refused(agent, EVENTS, {"after": "0"})
    await refused(agent, SHARED_EVENTS)  # a shareable subscription: refused before joining
    assert api.client.server.app[SHARED].group_count == 0
    await customer.nothing_within(0.3)
    await customer.close()
    await agent.close()


async def test_the_legacy_graphql_ws_subprotocol_is_refused(api: Api) -> None:
    ws = await api.client.ws_connect("/graphql", protocols=["graphql-ws"])
    assert ws.protocol is None
    await ws.send_json({"type": "connection_init", "payload": {"token": "garbage"}})
    message = await asyncio.wait_for(ws.receive(), 5.0)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    assert ws.close_code == 4406
    # A client offering both gets the documented one.
    ws = await api.client.ws_connect("/graphql", protocols=["graphql-ws", PROTOCOL])
    assert ws.protocol == PROTOCOL
    await ws.close()


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_a_subscription_over_http_is_a_bad_request(api: Api, accept: str) -> None:
    headers = {"Authorization": f"Bearer {api.token('ann')}", "Accept": accept}
    query = "subscription { ticketEvents { id } }"
    for response in (
        await api.client.post("/graphql", json={"query": query}, headers=headers),
        await api.client.get("/graphql", params={"query": query}, headers=headers),
    ):
        assert response.status == 400, await response.text()
        body = await response.json()
        assert "data" not in body
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "WebSocket" in error["message"]


def _small_receive_buffer(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def fast_and_stalled(api: Api) -> AsyncIterator[tuple[Socket, Socket]]:
    """Two agents sharing one `GROWING` execution; the second's client does not read."""
    fast = await connect(api.client, {"token": api.token("agent-1", "agent")})
    connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
    async with aiohttp.ClientSession(connector=connector) as session:
        ws = await session.ws_connect(api.client.make_url("/graphql"), protocols=[PROTOCOL])
        slow = Socket(ws)
        await ws.send_json(
            {"type": "connection_init", "payload": {"token": api.token("agent-2", "agent")}}
        )
        assert (await slow.receive())["type"] == "connection_ack"
        assert await slow.subscribe(GROWING) == await fast.subscribe(GROWING) == "1"
        for _ in range(50):  # both in one shared execution
            if api.client.server.app[SHARED].group_count == 1:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        yield fast, slow
        await slow.close()
    await fast.close()


async def forty_long_replies(api: Api, reader: Socket) -> tuple[list[str], list[dict[str, Any]]]:
    """Far more than a stalled socket's buffers hold (about 8 MB; random text does not compress).

    Returns the bodies and the 41 events `reader` received meanwhile (it reads as they come).
    """
    received = asyncio.create_task(_events(reader, 41))
    ticket = await create_ticket(api, "ann")
    bodies = [secrets.token_hex(4_000) for _ in range(40)]
    for body in bodies:
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": body}}, as_="ann")
    return bodies, await received


async def _events(socket: Socket, count: int, within: float = 5.0) -> list[dict[str, Any]]:
    return [(await socket.next_data("1", within))["ticketEvents"] for _ in range(count)]


async def test_a_client_that_does_not_read_delays_nobody_else(api: Api) -> None:
    async with fast_and_stalled(api) as (fast, slow):
        # The slow client reads nothing, yet the other one gets everything, in order.
        bodies, received = await forty_long_replies(api, fast)
        assert [e["kind"] for e in received] == ["CREATED"] + ["MESSAGE_ADDED"] * 40
        assert [e["message"]["body"] for e in received[1:]] == bodies

        # Once it reads, the slow client gets the same events, none lost, in the same order.
        assert await _events(slow, 41, within=10.0) == received


async def test_a_client_too_far_behind_is_disconnected(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.fanout.MAX_BACKLOG", 3)
    async with fast_and_stalled(api) as (fast, slow):
        _, received = await forty_long_replies(api, fast)
        assert len({e["id"] for e in received}) == 41
        # What reached the slow client's buffers before it fell behind, then the end.
        late = []
        while (message := await slow.ws.receive(10.0)).type == aiohttp.WSMsgType.TEXT:
            late.append(message.json()["payload"]["data"]["ticketEvents"])
        assert late == received[: len(late)] and len(late) < 41


async def test_admins_and_agents_run_apart_and_per_viewer_fields_per_viewer(api: Api) -> None:
    agent = await connect(api.client, {"token": api.token("agent-1", "agent")})
    admin = await connect(api.client, {"token": api.token("admin-1", "admin")})
    ops = [await agent.subscribe(SHARED_EVENTS), await admin.subscribe(SHARED_EVENTS)]
    for _ in range(50):
        if api.client.server.app[SHARED].group_count == 2:
            break
        await asyncio.sleep(0.05)
    assert api.client.server.app[SHARED].group_count == 2  # one per role
    await create_ticket(api, "ann")
    assert (await agent.next_data(ops[0]))["ticketEvents"]["kind"] == "CREATED"
    assert (await admin.next_data(ops[1]))["ticketEvents"]["kind"] == "CREATED"
    await agent.close()
    await admin.close()


class _Served(SchemaExtension):
    def get_results(self) -> dict[str, Any]:
        return {"served": True}


@strawberry.type
class _Query:
    ok: bool = True


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1


class _StaffView(GraphQLView[Context, None]):
    async def get_context(self, request: web.Request, response: Any) -> Context:
        viewer = Viewer(id="agent-1", name="A", role=Role.AGENT)
        none: Any = None
        return Context(viewer, none, none, "request-id", none, none, request=request)


async def test_shared_results_keep_their_extensions(aiohttp_client: Any) -> None:
    """The shared execution forwards what schema extensions add to each result."""
    schema = strawberry.Schema(query=_Query, subscription=_Subscription, extensions=[_Served])
    view = _StaffView(schema=schema)
    view.graphql_transport_ws_handler_class = type(
        "Handler", (SharingHandler,), {"shared": SharedSubscriptions(schema)}
    )
    app = web.Application()
    app.router.add_route("*", "/graphql", view)
    client = await aiohttp_client(app)
    socket = await connect(client)
    op = await socket.subscribe("subscription { ticks }")
    assert await socket.receive() == {
        "id": op,
        "type": "next",
        "payload": {"data": {"ticks": 1}, "extensions": {"served": True}},
    }
    assert (await socket.receive())["type"] == "complete"
    await socket.close()
