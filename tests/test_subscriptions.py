"""Live updates over graphql-transport-ws: subscribe, mutate over HTTP, receive."""

from __future__ import annotations

import asyncio

import pytest

from pubsub.broker import MemoryBroker
from services.live import EventFeed
from tests.conftest import TEST_SECRET, Api
from tests.fixtures import REPLY, create_ticket, row_key
from tests.ws import connect

EVENTS = """subscription($ticketId: ID, $after: String) {
  ticketEvents(ticketId: $ticketId, after: $after) {
    id kind fromStatus toStatus actor { sub } ticket { id number } message { body internal }
  }
}"""
STATUS = """subscription($ticketId: ID) {
  ticketStatusChanged(ticketId: $ticketId) { id kind fromStatus toStatus ticket { id } }
}"""
TAKE = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }"


def bearer(api: Api, sub: str, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.token(sub, role)}"}


async def test_owner_receives_status_changes_of_own_ticket(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    socket = await connect(api.client, bearer(api, "ann"))
    op = await socket.subscribe(STATUS, {"ticketId": ticket["id"]})
    await asyncio.sleep(0.1)
    await api.gql(TAKE, {"i": {"ticketId": ticket["id"]}}, as_="agent-1", role="agent")
    data = await socket.next_data(op)
    assert data["ticketStatusChanged"]["fromStatus"] == "OPEN"
    assert data["ticketStatusChanged"]["toStatus"] == "IN_PROGRESS"
    assert data["ticketStatusChanged"]["ticket"] == {"id": ticket["id"]}
    await socket.close()


async def test_events_arrive_in_order_and_foreign_ones_never(api: Api) -> None:
    socket = await connect(api.client, {"token": api.token("ann")})
    op = await socket.subscribe(EVENTS)
    await asyncio.sleep(0.1)
    mine = await create_ticket(api, "ann")
    await create_ticket(api, "bob")
    await api.gql(
        REPLY,
        {"input": {"ticketId": mine["id"], "body": "note", "internal": True}},
        as_="agent-1",
        role="agent",
    )
    await api.gql(
        REPLY, {"input": {"ticketId": mine["id"], "body": "hello"}}, as_="agent-1", role="agent"
    )
    first = await socket.next_data(op)
    second = await socket.next_data(op)
    assert first["ticketEvents"]["kind"] == "CREATED"
    assert first["ticketEvents"]["ticket"]["id"] == mine["id"]
    assert second["ticketEvents"]["kind"] == "MESSAGE_ADDED"
    assert second["ticketEvents"]["message"] == {"body": "hello", "internal": False}
    await socket.nothing_within(0.5)
    await socket.close()


async def test_agent_sees_every_event_including_internal_notes(api: Api) -> None:
    socket = await connect(api.client, bearer(api, "agent-2", "agent"))
    op = await socket.subscribe(EVENTS)
    await asyncio.sleep(0.1)
    ticket = await create_ticket(api, "bob")
    await api.gql(
        REPLY,
        {"input": {"ticketId": ticket["id"], "body": "vip", "internal": True}},
        as_="agent-1",
        role="agent",
    )
    kinds = [(await socket.next_data(op))["ticketEvents"]["kind"] for _ in range(2)]
    assert kinds == ["CREATED", "MESSAGE_ADDED"]
    await socket.close()


async def test_replay_after_a_cursor_then_live_without_gap_or_duplicate(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    for i in range(3):
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": f"m{i}"}}, as_="ann")
    log = await api.gql(
        "query($t: ID) { ticketEvents(ticketId: $t) { edges { cursor node { id kind } } } }",
        {"t": ticket["id"]},
        as_="ann",
    )
    edges = log["ticketEvents"]["edges"]
    assert len(edges) == 4
    socket = await connect(api.client, bearer(api, "ann"))
    op = await socket.subscribe(EVENTS, {"ticketId": ticket["id"], "after": edges[1]["cursor"]})
    replayed = [(await socket.next_data(op))["ticketEvents"]["id"] for _ in range(2)]
    assert replayed == [edges[2]["node"]["id"], edges[3]["node"]["id"]]
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "live"}}, as_="ann")
    live = await socket.next_data(op)
    assert live["ticketEvents"]["message"]["body"] == "live"
    assert row_key(live["ticketEvents"]["id"]) > row_key(replayed[-1])
    await socket.nothing_within(0.5)
    await socket.close()


@pytest.mark.parametrize(
    "payload",
    [
        {"token": "garbage"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
    ],
)
async def test_bad_token_closes_with_4403(api: Api, payload: dict) -> None:
    socket = await connect(api.client, payload, ack=False)
    message = await socket.receive()
    assert message == {"type": "closed", "code": 4403}


async def test_wrong_secret_closes_with_4403(api: Api) -> None:
    from server import auth

    token = auth.encode(sub="ann", role="customer", name="Ann", secret=TEST_SECRET + "x")
    socket = await connect(api.client, {"token": token}, ack=False)
    assert await socket.receive() == {"type": "closed", "code": 4403}


async def test_anonymous_subscription_is_an_authentication_error(api: Api) -> None:
    socket = await connect(api.client)
    op = await socket.subscribe(EVENTS)
    message = await socket.receive()
    assert message["id"] == op
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", message
    await socket.close()


async def test_foreign_ticket_subscription_is_not_found(api: Api) -> None:
    ticket = await create_ticket(api, "bob")
    socket = await connect(api.client, bearer(api, "ann"))
    op = await socket.subscribe(STATUS, {"ticketId": ticket["id"]})
    message = await socket.receive()
    assert message["id"] == op
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND", message
    await socket.close()


STATS_FIELDS = """countsByStatus { status count } activeByCategory { category { slug } count }
  urgentActive oldestOpenCreatedAt oldestOpenAgeSeconds"""


async def test_ticket_stats_cover_the_viewers_tickets(api: Api) -> None:
    first = await create_ticket(api, "ann", urgent=True)
    await create_ticket(api, "ann", categorySlug="other")
    await create_ticket(api, "bob", urgent=True)
    await api.gql(TAKE, {"i": {"ticketId": first["id"]}}, as_="agent-1", role="agent")
    query = "{ ticketStats { %s } }" % STATS_FIELDS
    mine = (await api.gql(query, as_="ann"))["ticketStats"]
    assert {c["status"]: c["count"] for c in mine["countsByStatus"]}["OPEN"] == 1
    assert {c["status"]: c["count"] for c in mine["countsByStatus"]}["IN_PROGRESS"] == 1
    assert mine["urgentActive"] == 1
    assert {c["category"]["slug"]: c["count"] for c in mine["activeByCategory"]} == {
        "app-help": 1,
        "other": 1,
    }
    everyone = (await api.gql(query, as_="agent-1", role="agent"))["ticketStats"]
    assert everyone["urgentActive"] == 2
    assert sum(c["count"] for c in everyone["countsByStatus"]) == 3
    assert everyone["oldestOpenAgeSeconds"] >= 0
    error = await api.error(query)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_stats_subscription_pushes_now_then_coalesced(api: Api) -> None:
    socket = await connect(api.client, bearer(api, "agent-1", "agent"))
    op = await socket.subscribe("subscription { ticketStatsChanged { %s } }" % STATS_FIELDS)
    initial = await socket.next_data(op)
    assert sum(c["count"] for c in initial["ticketStatsChanged"]["countsByStatus"]) == 0
    for _ in range(5):
        await create_ticket(api, "ann")
    pushes = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        data = await socket.next_data(op, within=3.0)
        pushes.append(loop.time() - started)
        counts = data["ticketStatsChanged"]["countsByStatus"]
        if sum(c["count"] for c in counts) == 5:
            break
    # Five changes within a moment reach the dashboard as at most two pushes, a second apart.
    assert len(pushes) <= 2
    await socket.nothing_within(1.3)
    await socket.close()


async def test_the_event_feed_stops_when_woken_as_it_is_closed(api: Api) -> None:
    """A wake-up that lands with the cancellation must not keep the feed running for ever."""
    for _ in range(20):
        feed = EventFeed(MemoryBroker(), poll_seconds=30)
        await feed.start()
        await asyncio.sleep(0.05)  # both tasks are waiting
        feed._wake.set()
        await asyncio.sleep(0)  # the wake-up completes; the feed has not resumed yet
        for task in feed._tasks:
            task.cancel()
        await asyncio.sleep(0.1)
        assert all(task.done() for task in feed._tasks)
        await feed.close()
