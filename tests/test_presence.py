"""Presence over WebSocket and HTTP: who has a ticket open, who types, what customers are shown,
the caps, and who may watch or type where."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Api, Backend, serve
from tests.fixtures import create_ticket
from tests.ws import Socket, connect

PRESENCE = """subscription($id: ID!) {
  ticketPresence(ticketId: $id) { viewers { user { sub name role } typing since } agentTyping }
}"""
TYPING = """mutation($i: ReportTypingInput!) {
  reportTyping(input: $i) { typingUntil errors { code field message } clientMutationId }
}"""


def bearer(api: Api, sub: str, role: str = "customer", ttl: int = 3600) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(sub, role, ttl=ttl)}"}


async def watch(api: Api, sub: str, role: str, ticket_id: str) -> tuple[Socket, str, Any]:
    """A socket of its own watching the ticket, and the first list it was sent."""
    socket = await connect(api.client, bearer(api, sub, role))
    op = await socket.subscribe(PRESENCE, {"id": ticket_id})
    return socket, op, (await socket.next_data(op))["ticketPresence"]


def people(presence: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(v["user"]["sub"], v["typing"]) for v in presence["viewers"]]


async def pushed(socket: Socket, op: str) -> dict[str, Any]:
    data: dict[str, Any] = (await socket.next_data(op))["ticketPresence"]
    return data


def kill(socket: Socket) -> None:
    """The client vanishes: its connection is dropped without a close frame or a complete."""
    socket.ws._conn.transport.abort()  # type: ignore[attr-defined]


async def type_in(api: Api, sub: str, role: str, ticket_id: str) -> dict[str, Any]:
    data = await api.gql(TYPING, {"i": {"ticketId": ticket_id}}, as_=sub, role=role)
    payload: dict[str, Any] = data["reportTyping"]
    return payload


async def test_staff_see_who_comes_and_goes(api: Api) -> None:
    ticket = await create_ticket(api, "cora")
    first, op1, seen = await watch(api, "agent-1", "agent", ticket["id"])
    assert people(seen) == [("agent-1", False)]
    assert seen["viewers"][0]["user"] == {"sub": "agent-1", "name": "Agent-1", "role": "AGENT"}

    second, op2, seen = await watch(api, "agent-2", "agent", ticket["id"])
    assert people(seen) == [("agent-1", False), ("agent-2", False)]
    assert people(await pushed(first, op1)) == [("agent-1", False), ("agent-2", False)]

    await second.ws.send_json({"id": op2, "type": "complete"})  # the normal end
    assert people(await pushed(first, op1)) == [("agent-1", False)]

    third, _, seen = await watch(api, "agent-3", "agent", ticket["id"])
    assert people(await pushed(first, op1)) == [("agent-1", False), ("agent-3", False)]
    kill(third)  # a client killed: no complete, no close frame
    assert people(await pushed(first, op1)) == [("agent-1", False)]

    await second.close()
    await first.close()


async def test_a_person_on_two_devices_is_listed_once_until_both_leave(
    api: Api, clock: Any
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))  # both devices there since the same time
    ticket = await create_ticket(api, "cora")
    watcher, op, _ = await watch(api, "agent-1", "agent", ticket["id"])
    phone, _, _ = await watch(api, "agent-2", "agent", ticket["id"])
    assert people(await pushed(watcher, op)) == [("agent-1", False), ("agent-2", False)]
    laptop, _, seen = await watch(api, "agent-2", "agent", ticket["id"])
    assert people(seen) == [("agent-1", False), ("agent-2", False)]
    await phone.close()
    await watcher.nothing_within(0.3)  # still there on the laptop
    await laptop.close()
    assert people(await pushed(watcher, op)) == [("agent-1", False)]
    await watcher.close()


async def test_customers_see_themselves_and_that_support_types_never_who(
    api: Api, clock: Any
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    ticket = await create_ticket(api, "cora")
    customer, cop, seen = await watch(api, "cora", "customer", ticket["id"])
    assert seen == {
        "viewers": [
            {
                "user": {"sub": "cora", "name": "Cora", "role": "CUSTOMER"},
                "typing": False,
                "since": "2026-03-02T10:00:00+00:00",
            }
        ],
        "agentTyping": False,
    }
    agent, aop, seen = await watch(api, "agent-1", "agent", ticket["id"])
    assert people(seen) == [("agent-1", False), ("cora", False)] or people(seen) == [
        ("cora", False),
        ("agent-1", False),
    ]

    typed = await type_in(api, "agent-1", "agent", ticket["id"])
    assert typed["errors"] == [] and typed["typingUntil"] == "2026-03-02T10:00:05+00:00"
    shown = await pushed(customer, cop)
    assert shown["agentTyping"] is True
    assert [v["user"]["sub"] for v in shown["viewers"]] == ["cora"]
    assert ("agent-1", True) in people(await pushed(agent, aop))

    # The typing time passes (HELPDESK_TYPING_SECONDS, 5 by default): typing is over.
    clock.advance(timedelta(seconds=6))
    assert (await pushed(customer, cop))["agentTyping"] is False
    assert ("agent-1", False) in people(await pushed(agent, aop))

    # A customer typing shows to support, and the customer is never told about staff.
    await type_in(api, "cora", "customer", ticket["id"])
    assert ("cora", True) in people(await pushed(agent, aop))
    assert await pushed(customer, cop) == {
        "viewers": [
            {
                "user": {"sub": "cora", "name": "Cora", "role": "CUSTOMER"},
                "typing": True,
                "since": "2026-03-02T10:00:00+00:00",
            }
        ],
        "agentTyping": False,
    }
    await agent.close()
    await customer.nothing_within(0.3)  # neither the agent's typing nor their leaving shows
    await customer.close()


async def test_nothing_crosses_tickets(api: Api) -> None:
    mine = await create_ticket(api, "cora")
    other = await create_ticket(api, "cora")
    watcher, _, _ = await watch(api, "agent-1", "agent", mine["id"])
    elsewhere, _, _ = await watch(api, "agent-2", "agent", other["id"])
    await type_in(api, "agent-2", "agent", other["id"])
    await watcher.nothing_within(0.3)
    await elsewhere.close()
    await watcher.close()


async def test_typing_without_watching_shows_and_lapses(api: Api, clock: Any) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    ticket = await create_ticket(api, "cora")
    customer, op, _ = await watch(api, "cora", "customer", ticket["id"])
    await type_in(api, "agent-1", "agent", ticket["id"])
    assert (await pushed(customer, op))["agentTyping"] is True
    clock.advance(timedelta(seconds=4))
    await type_in(api, "agent-1", "agent", ticket["id"])  # still typing: 5 s from now
    clock.advance(timedelta(seconds=4))
    await customer.nothing_within(0.3)
    clock.advance(timedelta(seconds=2))
    assert (await pushed(customer, op))["agentTyping"] is False
    await customer.close()


async def test_who_may_watch_and_type(api: Api) -> None:
    ticket = await create_ticket(api, "cora")
    # Another customer: the ticket does not exist for them.
    socket = await connect(api.client, bearer(api, "dan"))
    op = await socket.subscribe(PRESENCE, {"id": ticket["id"]})
    message = await socket.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert message["id"] == op and errors[0]["extensions"]["code"] == "NOT_FOUND", message
    typed = await type_in(api, "dan", "customer", ticket["id"])
    assert [e["code"] for e in typed["errors"]] == ["NOT_FOUND"]
    assert typed["typingUntil"] is None
    # A malformed id, or one of another type, names nothing.
    for wrong in ("nope", "VXNlcjpjb3Jh"):
        typed = await type_in(api, "cora", "customer", wrong)
        assert [e["code"] for e in typed["errors"]] == ["NOT_FOUND"]
    await socket.close()

    # No token: an authentication error.
    anonymous = await connect(api.client)
    op = await anonymous.subscribe(PRESENCE, {"id": ticket["id"]})
    message = await anonymous.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", message
    await anonymous.close()
    error = await api.error(TYPING, {"i": {"ticketId": ticket["id"]}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    # Bounded before anything is read.
    _, body = await api.post(
        TYPING, {"i": {"ticketId": ticket["id"], "clientMutationId": "k" * 129}}, as_="cora"
    )
    assert [e["code"] for e in body["data"]["reportTyping"]["errors"]] == ["VALIDATION"]
    typed = (
        await api.gql(
            TYPING, {"i": {"ticketId": ticket["id"], "clientMutationId": "t-1"}}, as_="cora"
        )
    )["reportTyping"]
    assert typed["errors"] == [] and typed["clientMutationId"] == "t-1"


async def test_an_expired_token_ends_the_watch_and_the_presence(api: Api) -> None:
    ticket = await create_ticket(api, "cora")
    watcher, op, _ = await watch(api, "agent-1", "agent", ticket["id"])
    short = await connect(api.client, bearer(api, "agent-2", "agent", ttl=1))
    sop = await short.subscribe(PRESENCE, {"id": ticket["id"]})
    assert people((await short.next_data(sop))["ticketPresence"])[-1] == ("agent-2", False)
    assert people(await pushed(watcher, op)) == [("agent-1", False), ("agent-2", False)]
    message = await short.receive(within=10)
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", message
    assert people(await pushed(watcher, op)) == [("agent-1", False)]
    await short.close()
    await watcher.close()


async def test_caps_per_ticket_and_per_user(backend: Backend) -> None:
    async with serve(backend, presence_per_ticket=2, presence_per_user=2) as client:
        api = Api(client)
        ticket = await create_ticket(api, "cora")
        other = await create_ticket(api, "cora")
        sockets = []
        for sub in ("agent-1", "agent-2"):
            socket, _, _ = await watch(api, sub, "agent", ticket["id"])
            sockets.append(socket)
        refused = await connect(client, bearer(api, "agent-3", "agent"))
        await refused.subscribe(PRESENCE, {"id": ticket["id"]})
        message = await refused.receive()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "PRESENCE_LIMIT", message
        typed = await type_in(api, "agent-3", "agent", ticket["id"])
        assert [e["code"] for e in typed["errors"]] == ["PRESENCE_LIMIT"]

        # agent-1 holds one session; a second ticket is a second, typing there a third.
        socket, _, _ = await watch(api, "agent-1", "agent", other["id"])
        sockets.append(socket)
        typed = await type_in(api, "agent-1", "agent", other["id"])
        assert [e["code"] for e in typed["errors"]] == ["PRESENCE_LIMIT"]
        assert "Presence is limited to 2" in typed["errors"][0]["message"]

        # A place freed is a place taken again.
        await sockets.pop(0).close()
        await refused.close()
        again, _, seen = await watch(api, "agent-3", "agent", ticket["id"])
        assert [v["user"]["sub"] for v in seen["viewers"]] == ["agent-2", "agent-3"]
        for socket in [*sockets, again]:
            await socket.close()


async def test_presence_over_http_streams(api: Api) -> None:
    """The same subscription over SSE, as any other: the first list arrives."""
    ticket = await create_ticket(api, "cora")
    response = await api.client.post(
        "/graphql",
        json={"query": PRESENCE, "variables": {"id": ticket["id"]}},
        headers={**bearer(api, "agent-1", "agent"), "Accept": "text/event-stream"},
    )
    assert response.status == 200
    line = b""
    while not line.startswith(b"data:"):
        line = (await response.content.readline()).strip()
    first = json.loads(line[5:])
    assert people(first["data"]["ticketPresence"]) == [("agent-1", False)]
    response.close()
