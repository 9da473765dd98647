"""SLA breaches through the API, in one process: the scheduler writes one SLA_BREACHED event per
target once its due time passed (the services' clock is set, never waited for), staff receive it
live and customers never; a paused ticket does not breach; the queue filters and orders by it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import Api, Backend, serve
from tests.fixtures import REPLY, create_ticket
from tests.workflow import STATUS, TAKE
from tests.ws import connect

OWNER, AGENT = "ann", "agent-1"
MONDAY = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
SCAN_SECONDS = 0.02

EVENTS = """subscription($after: String) {
  ticketEvents(after: $after) { id kind slaTarget ticket { id } }
}"""
SLA = """query($id: ID!) {
  ticket(id: $id) {
    version sla { firstResponseBreached resolutionBreached firstRespondedAt }
    events { kind slaTarget actor { id } }
  }
}"""
QUEUE = """query($filter: TicketFilter, $orderBy: TicketOrder, $first: Int, $after: String) {
  tickets(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { cursor node { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""
SCANS = re.compile(r"^helpdesk_sla_scans_total (\S+)$", re.M)


@pytest.fixture
async def api(backend: Backend) -> AsyncIterator[Api]:
    async with serve(backend, sla_scan_seconds=SCAN_SECONDS) as client:
        yield Api(client)


async def scans(client: TestClient) -> float:
    response = await client.get("/metrics")
    found = SCANS.search(await response.text())
    assert found, "no SLA scan counter"
    return float(found.group(1))


async def after_two_scans(client: TestClient) -> None:
    """Return once the scheduler has completed two whole scans since the call."""
    start = await scans(client)
    for _ in range(100_000):
        if await scans(client) >= start + 2:
            return
        await asyncio.sleep(SCAN_SECONDS)
    raise AssertionError("the SLA scheduler stopped scanning")


async def next_kind(socket: Any, op: str, kind: str) -> dict[str, Any]:
    while True:
        event = (await socket.next_data(op))["ticketEvents"]
        if event["kind"] == kind:
            return dict(event)


async def test_a_passed_due_time_breaches_once_and_staff_see_it_live(api: Api, clock: Any) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER, urgent=True)  # 1 h and 8 h
    staff = await connect(api.client, {"token": api.token(AGENT, "agent")})
    owner = await connect(api.client, {"token": api.token(OWNER)})
    staff_op, owner_op = await staff.subscribe(EVENTS), await owner.subscribe(EVENTS)
    await after_two_scans(api.client)  # both subscriptions are live, nothing due yet

    clock.set(MONDAY + timedelta(hours=1))
    first = await next_kind(staff, staff_op, "SLA_BREACHED")
    clock.set(MONDAY + timedelta(hours=8))
    second = await next_kind(staff, staff_op, "SLA_BREACHED")

    assert (first["slaTarget"], second["slaTarget"]) == ("FIRST_RESPONSE", "RESOLUTION")
    assert first["ticket"] == second["ticket"] == {"id": ticket["id"]}
    # The owner's stream is in event order: a later public event arrives, the breaches never.
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "hello?"}}, as_=OWNER)
    seen = [(await owner.next_data(owner_op))["ticketEvents"]["kind"]]
    while seen[-1] != "MESSAGE_ADDED":
        seen.append((await owner.next_data(owner_op))["ticketEvents"]["kind"])
    assert "SLA_BREACHED" not in seen

    await after_two_scans(api.client)
    found = (await api.gql(SLA, {"id": ticket["id"]}, as_=AGENT, role="agent"))["ticket"]
    breaches = [e for e in found["events"] if e["kind"] == "SLA_BREACHED"]
    assert [e["slaTarget"] for e in breaches] == ["FIRST_RESPONSE", "RESOLUTION"]
    assert found["sla"]["firstResponseBreached"] and found["sla"]["resolutionBreached"]
    assert found["version"] == ticket["version"] + 3  # two breaches and the reply
    stats = await api.gql("{ ticketStats { slaBreachedActive } }", as_=AGENT, role="agent")
    assert stats["ticketStats"]["slaBreachedActive"] == 1
    seen = (await api.gql(SLA, {"id": ticket["id"]}, as_=OWNER))["ticket"]
    assert "SLA_BREACHED" not in [e["kind"] for e in seen["events"]]
    await staff.close()
    await owner.close()


async def test_a_ticket_awaiting_the_customer_does_not_breach(api: Api, clock: Any) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER, urgent=True)
    await api.gql(TAKE, {"input": {"ticketId": ticket["id"]}}, as_=AGENT, role="agent")
    change = {"ticketId": ticket["id"], "status": "AWAITING_REPLY"}
    await api.gql(STATUS, {"input": change}, as_=AGENT, role="agent")

    clock.set(MONDAY + timedelta(days=2))
    await after_two_scans(api.client)

    found = (await api.gql(SLA, {"id": ticket["id"]}, as_=AGENT, role="agent"))["ticket"]
    assert found["sla"]["firstResponseBreached"] is False
    assert found["sla"]["resolutionBreached"] is False
    assert "SLA_BREACHED" not in [e["kind"] for e in found["events"]]


async def test_the_queue_filters_breached_tickets_and_orders_by_the_next_due_time(
    api: Api, clock: Any
) -> None:
    clock.set(MONDAY)
    normal = await create_ticket(api, OWNER)  # first response due at +4 h
    urgent = await create_ticket(api, OWNER, urgent=True)  # at +1 h
    done = await create_ticket(api, OWNER, urgent=True)
    await api.gql(TAKE, {"input": {"ticketId": done["id"]}}, as_=AGENT, role="agent")
    close = {"ticketId": done["id"], "status": "CLOSED"}
    await api.gql(STATUS, {"input": close}, as_=AGENT, role="agent")
    clock.set(MONDAY + timedelta(minutes=90))
    await after_two_scans(api.client)

    async def ids(**variables: Any) -> list[str]:
        data = await api.gql(QUEUE, variables, as_=AGENT, role="agent")
        return [edge["node"]["id"] for edge in data["tickets"]["edges"]]

    assert await ids(filter={"slaBreached": True}) == [urgent["id"]]
    assert set(await ids(filter={"slaBreached": False})) == {normal["id"], done["id"]}
    by_due = {"field": "SLA_DUE", "direction": "ASC"}
    assert await ids(orderBy=by_due) == [urgent["id"], normal["id"], done["id"]]
    # Without a direction, the earliest due time comes first too.
    assert await ids(orderBy={"field": "SLA_DUE"}) == [urgent["id"], normal["id"], done["id"]]
    assert await ids(orderBy={"field": "CREATED_AT"}) == [done["id"], urgent["id"], normal["id"]]
    # Keyset pages over the due time.
    page = await api.gql(QUEUE, {"orderBy": by_due, "first": 2}, as_=AGENT, role="agent")
    rest = await ids(orderBy=by_due, after=page["tickets"]["pageInfo"]["endCursor"])
    assert rest == [done["id"]]


@pytest.mark.parametrize("paused", [False, True], ids=["answered", "paused"])
async def test_a_target_missed_before_a_change_is_breached_by_the_change(
    backend: Backend, clock: Any, paused: bool
) -> None:
    """No scan runs here: a late answer, pause or close still records the breach it hid."""
    async with serve(backend, sla_scan_seconds=3600) as client:
        api = Api(client)
        clock.set(MONDAY)
        ticket = await create_ticket(api, OWNER, urgent=True)  # due in 1 h and 8 h
        await api.gql(TAKE, {"input": {"ticketId": ticket["id"]}}, as_=AGENT, role="agent")
        clock.set(MONDAY + timedelta(hours=9))
        reply = {
            "ticketId": ticket["id"],
            "body": "Sorry for the wait",
            "awaitCustomerReply": paused,
        }
        await api.gql(REPLY, {"input": reply}, as_=AGENT, role="agent")
        status = {"ticketId": ticket["id"], "status": "CLOSED"}
        await api.gql(STATUS, {"input": status}, as_=AGENT, role="agent")
        found = (await api.gql(SLA, {"id": ticket["id"]}, as_=AGENT, role="agent"))["ticket"]
        assert found["sla"]["firstResponseBreached"] and found["sla"]["resolutionBreached"]
        breaches = [e["slaTarget"] for e in found["events"] if e["kind"] == "SLA_BREACHED"]
        assert sorted(breaches) == ["FIRST_RESPONSE", "RESOLUTION"]
        seen = (await api.gql(SLA_CUSTOMER, {"id": ticket["id"]}, as_=OWNER))["ticket"]
        assert "SLA_BREACHED" not in [e["kind"] for e in seen["events"]]


async def test_a_breach_leaves_updated_at_as_customers_saw_it(api: Api, clock: Any) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER, urgent=True)
    before = (await api.gql(UPDATED, {"id": ticket["id"]}, as_=OWNER))["ticket"]["updatedAt"]
    clock.set(MONDAY + timedelta(hours=2))
    await after_two_scans(api.client)
    found = (await api.gql(SLA, {"id": ticket["id"]}, as_=AGENT, role="agent"))["ticket"]
    assert found["sla"]["firstResponseBreached"]
    after = (await api.gql(UPDATED, {"id": ticket["id"]}, as_=OWNER))["ticket"]["updatedAt"]
    assert after == before


SLA_CUSTOMER = """query($id: ID!) { ticket(id: $id) { events { kind } } }"""
UPDATED = """query($id: ID!) { ticket(id: $id) { updatedAt } }"""
