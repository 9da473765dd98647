"""Identical subscriptions of viewers who see the same events share one execution."""

from __future__ import annotations

import asyncio

from server.app import SHARED
from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.ws import connect

QUERY = "subscription { ticketEvents { id kind ticket { number } message { body } } }"
WITH_VIEWER_CAN = (
    "subscription { ticketEvents { id ticket { viewerCan { changeStatus { allowed } } } } }"
)


def token(api: Api, sub: str, role: str = "agent", ttl: int = 3600) -> dict[str, str]:
    return {"token": api.token(sub, role, ttl=ttl)}


def groups(api: Api) -> int:
    return api.client.server.app[SHARED].group_count


async def settle() -> None:
    await asyncio.sleep(0.15)


async def groups_become(api: Api, count: int) -> None:
    """Group bookkeeping follows socket messages asynchronously: wait (bounded) for it."""
    for _ in range(50):
        if groups(api) == count:
            return
        await asyncio.sleep(0.05)
    assert groups(api) == count


async def test_agents_share_one_execution_and_get_the_same_data(api: Api) -> None:
    first = await connect(api.client, token(api, "agent-1"))
    second = await connect(api.client, token(api, "agent-2"))
    customer = await connect(api.client, token(api, "ann", "customer"))
    ops = [await s.subscribe(QUERY) for s in (first, second, customer)]
    await groups_become(api, 2)  # all staff in one, the customer in her own

    ticket = await create_ticket(api, "ann")
    note = {"ticketId": ticket["id"], "body": "internal", "internal": True}
    await api.gql(REPLY, {"input": note}, as_="agent-1", role="agent")
    staff_1 = [await first.next_data(ops[0]) for _ in range(2)]
    staff_2 = [await second.next_data(ops[1]) for _ in range(2)]
    assert staff_1 == staff_2
    assert [d["ticketEvents"]["kind"] for d in staff_1] == ["CREATED", "MESSAGE_ADDED"]
    seen_by_customer = await customer.next_data(ops[2])
    assert seen_by_customer["ticketEvents"]["kind"] == "CREATED"
    await customer.nothing_within(0.5)
    for socket in (first, second, customer):
        await socket.close()


async def test_leaving_keeps_the_others_and_the_last_one_ends_the_group(api: Api) -> None:
    first = await connect(api.client, token(api, "agent-1"))
    second = await connect(api.client, token(api, "agent-2"))
    op_1, op_2 = await first.subscribe(QUERY), await second.subscribe(QUERY)
    await groups_become(api, 1)
    await settle()
    await first.ws.send_json({"id": op_1, "type": "complete"})
    await groups_become(api, 1)
    await create_ticket(api, "ann")
    assert (await second.next_data(op_2))["ticketEvents"]["kind"] == "CREATED"
    await first.nothing_within(0.3)
    await second.ws.send_json({"id": op_2, "type": "complete"})
    await groups_become(api, 0)
    await first.close()
    await second.close()


async def test_expiry_ends_only_that_members_subscription(api: Api) -> None:
    # exp has whole seconds: a 2 s token lives between 1 and 2 s.
    short = await connect(api.client, token(api, "agent-1", ttl=2))
    long = await connect(api.client, token(api, "agent-2"))
    op_short, op_long = await short.subscribe(QUERY), await long.subscribe(QUERY)
    message = await short.receive(within=5.0)
    assert message["id"] == op_short and message["type"] == "next", message
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in message["payload"]["errors"][0]["message"]
    assert (await short.receive())["type"] == "complete"
    await create_ticket(api, "ann")
    assert (await long.next_data(op_long))["ticketEvents"]["kind"] == "CREATED"
    await short.close()
    await long.close()


async def test_viewer_dependent_selections_and_replays_run_alone(api: Api) -> None:
    first = await connect(api.client, token(api, "agent-1"))
    second = await connect(api.client, token(api, "agent-2"))
    await first.subscribe(WITH_VIEWER_CAN)
    await second.subscribe(WITH_VIEWER_CAN)
    replay = 'subscription { ticketEvents(after: "0") { id } }'
    await first.subscribe(replay)
    await groups_become(api, 2)  # one per agent for viewerCan; the replay is not a group
    ticket = await create_ticket(api, "ann")
    take = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }"
    await api.gql(take, {"i": {"ticketId": ticket["id"]}}, as_="agent-1", role="agent")
    await first.close()
    await second.close()


STATS = "subscription { ticketStatsChanged { countsByStatus { status count } urgentActive } }"


async def test_a_dashboard_joining_a_running_execution_gets_the_figures_at_once(
    api: Api,
) -> None:
    await create_ticket(api, "ann", urgent=True)
    first = await connect(api.client, token(api, "agent-1"))
    op_1 = await first.subscribe(STATS)
    now = await first.next_data(op_1)
    assert now["ticketStatsChanged"]["urgentActive"] == 1
    second = await connect(api.client, token(api, "agent-2"))
    op_2 = await second.subscribe(STATS)
    assert await second.next_data(op_2) == now  # without waiting for a change
    await groups_become(api, 1)
    await create_ticket(api, "bob")
    later = await first.next_data(op_1, within=5.0)
    assert await second.next_data(op_2, within=5.0) == later
    assert sum(c["count"] for c in later["ticketStatsChanged"]["countsByStatus"]) == 2
    for socket in (first, second):
        await socket.close()
