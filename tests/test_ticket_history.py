"""A ticket's history through the HTTP API: the timeline and the `ticketEvents` log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import create_ticket
from tests.workflow import (
    AGENT,
    EVENTS,
    OWNER,
    STATE,
    TAKE,
    TIMELINE,
    URGENT,
    ok,
    reply,
    run,
)

# --- timeline ------------------------------------------------------------------------------


async def test_timeline_interleaves_messages_and_events_in_order(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    tid = ticket["id"]
    await reply(api, OWNER, ticketId=tid, body="Any news?")
    ok(await run(api, TAKE, AGENT, "agent", ticketId=tid))
    await reply(api, AGENT, "agent", ticketId=tid, body="Customer is VIP", internal=True)
    await reply(
        api, AGENT, "agent", ticketId=tid, body="Send a screenshot", awaitCustomerReply=True
    )
    ok(await run(api, URGENT, OWNER, ticketId=tid, urgent=True))
    await reply(api, OWNER, ticketId=tid, body="Here it is")

    def shape(items: list[dict[str, Any]]) -> list[str]:
        return [i["body"] if i["__typename"] == "Message" else i["kind"] for i in items]

    as_agent = (await api.gql(TIMELINE, {"id": tid}, as_=AGENT, role="agent"))["ticket"]
    assert shape(as_agent["timeline"]) == [
        "CREATED",
        "Any news?",
        "STATUS_CHANGED",
        "ASSIGNED",
        "Customer is VIP",
        "Send a screenshot",
        "STATUS_CHANGED",
        "URGENCY_CHANGED",
        "SLA_RETARGETED",  # urgent tickets have their own service level (staff only)
        "Here it is",
        "STATUS_CHANGED",
    ]
    stamps = [datetime.fromisoformat(i.get("createdAt") or i["at"]) for i in as_agent["timeline"]]
    assert stamps == sorted(stamps)
    assert [e["kind"] for e in as_agent["events"]].count("MESSAGE_ADDED") == 4

    as_owner = (await api.gql(TIMELINE, {"id": tid}, as_=OWNER))["ticket"]
    assert shape(as_owner["timeline"]) == [
        "CREATED",
        "Any news?",
        "STATUS_CHANGED",
        "ASSIGNED",
        "Send a screenshot",
        "STATUS_CHANGED",
        "URGENCY_CHANGED",
        "Here it is",
        "STATUS_CHANGED",
    ]
    assert all(not i.get("internal") for i in as_owner["timeline"])
    assert [e["kind"] for e in as_owner["events"]].count("MESSAGE_ADDED") == 3


# --- ticketEvents --------------------------------------------------------------------------


async def _busy_ticket(api: Api, owner: str = OWNER) -> str:
    """A ticket with a public conversation, an internal note and several changes."""
    ticket = await create_ticket(api, owner)
    tid = ticket["id"]
    ok(await run(api, TAKE, AGENT, "agent", ticketId=tid))
    await reply(api, AGENT, "agent", ticketId=tid, body="Internal remark", internal=True)
    await reply(api, AGENT, "agent", ticketId=tid, body="Details?", awaitCustomerReply=True)
    await reply(api, owner, ticketId=tid, body="Details.")
    ok(await run(api, URGENT, owner, ticketId=tid, urgent=True))
    return tid


async def _all_events(api: Api, as_: str, role: str, **variables: Any) -> list[dict[str, Any]]:
    data = await api.gql(EVENTS, {"first": 100, **variables}, as_=as_, role=role)
    assert data["ticketEvents"]["pageInfo"]["hasNextPage"] is False
    return [edge["node"] for edge in data["ticketEvents"]["edges"]]


@pytest.mark.parametrize(("who", "role"), [(OWNER, "customer"), (AGENT, "agent")])
@pytest.mark.parametrize("size", [1, 2, 3])
async def test_ticket_events_page_by_cursor_without_gaps(
    api: Api, who: str, role: str, size: int
) -> None:
    tid = await _busy_ticket(api)
    await _busy_ticket(api, owner="bob")
    everything = await _all_events(api, who, role, ticketId=tid)
    assert len(everything) >= 8

    seen: list[str] = []
    after: str | None = None
    pages = 0
    while pages <= len(everything) + 1:  # bounded: a cursor that does not advance fails below
        data = await api.gql(
            EVENTS, {"ticketId": tid, "after": after, "first": size}, as_=who, role=role
        )
        connection = data["ticketEvents"]
        edges = connection["edges"]
        info = connection["pageInfo"]
        assert [e["cursor"] for e in edges] == [e["node"]["id"] for e in edges]
        assert info["hasPreviousPage"] is (after is not None)
        if edges:
            assert (info["startCursor"], info["endCursor"]) == (
                edges[0]["cursor"],
                edges[-1]["cursor"],
            )
        assert len(edges) <= size
        seen += [e["node"]["id"] for e in edges]
        pages += 1
        if not info["hasNextPage"]:
            break
        assert len(edges) == size
        assert info["endCursor"] != after
        after = info["endCursor"]
    assert seen == [e["id"] for e in everything]
    assert len(set(seen)) == len(seen)
    assert pages >= len(everything) // size

    ticket = await api.gql(STATE, {"id": tid}, as_=who, role=role)
    assert [e["id"] for e in ticket["ticket"]["events"]] == seen


async def test_customer_log_holds_only_own_public_events(api: Api) -> None:
    mine = await _busy_ticket(api)
    theirs = await _busy_ticket(api, owner="bob")

    agent_view = await _all_events(api, AGENT, "agent")
    assert {e["ticket"]["id"] for e in agent_view} == {mine, theirs}
    internal_ids = {
        e["id"] for e in agent_view if e["message"] is not None and e["message"]["internal"]
    }
    assert len(internal_ids) == 2  # one note per ticket, visible to agents
    # Service levels are for staff too: the urgency change re-targeted each ticket.
    service_level_ids = {e["id"] for e in agent_view if e["kind"].startswith("SLA_")}
    assert len(service_level_ids) == 2

    customer_view = await _all_events(api, OWNER, "customer")
    staff_only = internal_ids | service_level_ids
    expected = [
        e["id"] for e in agent_view if e["ticket"]["id"] == mine and e["id"] not in staff_only
    ]
    assert [e["id"] for e in customer_view] == expected
    assert {e["ticket"]["id"] for e in customer_view} == {mine}

    foreign = await _all_events(api, OWNER, "customer", ticketId=theirs)
    assert foreign == []
    own = await _all_events(api, OWNER, "customer", ticketId=mine)
    assert [e["id"] for e in own] == expected

    agent_one = await _all_events(api, "agent-7", "agent", ticketId=theirs)
    assert [e["id"] for e in agent_one] == [
        e["id"] for e in agent_view if e["ticket"]["id"] == theirs
    ]


@pytest.mark.parametrize(
    "variables", [{"first": -1}, {"first": 101}, {"after": "abc"}, {"after": "-5"}]
)
async def test_ticket_events_refuse_bad_arguments(api: Api, variables: dict[str, Any]) -> None:
    await _busy_ticket(api)
    error = await api.error(EVENTS, variables, as_=AGENT, role="agent")
    assert error["extensions"]["code"] == "VALIDATION"


async def test_ticket_events_need_a_viewer(api: Api) -> None:
    error = await api.error(EVENTS, {})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
