"""Taking a ticket into work and assigning it, through the HTTP API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.validation import USER, global_id
from tests.conftest import Api
from tests.fixtures import create_ticket
from tests.workflow import (
    AGENT,
    ASSIGN,
    OWNER,
    STATUS,
    TAKE,
    URGENT,
    assert_unchanged,
    can,
    forbidden,
    kinds,
    known,
    of_kind,
    ok,
    refused,
    run,
    state,
    ticket_in,
    user_id,
)

# --- takeTicket ----------------------------------------------------------------------------


async def test_take_assigns_the_agent_and_records_both_events(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    taken = ok(await run(api, TAKE, AGENT, "agent", ticketId=ticket["id"]))
    assert taken["status"] == "IN_PROGRESS"
    assert taken["assignee"] == {"sub": AGENT}
    assert taken["version"] == 2

    after = await state(api, ticket["id"])
    assert after["status"] == "IN_PROGRESS" and after["assignee"] == {"sub": AGENT}
    assert kinds(after) == ["CREATED", "STATUS_CHANGED", "ASSIGNED"]
    changed, assigned = after["events"][1:]
    assert (changed["fromStatus"], changed["toStatus"], changed["actor"]) == (
        "OPEN",
        "IN_PROGRESS",
        {"sub": AGENT},
    )
    assert assigned["fromAssignee"] is None
    assert assigned["toAssignee"] == {"sub": AGENT}
    assert assigned["actor"] == {"sub": AGENT}


@pytest.mark.parametrize("second", [AGENT, "agent-2"])
async def test_second_take_is_an_invalid_transition(api: Api, second: str) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    payload = await run(api, TAKE, second, "agent", ticketId=before["id"])
    assert refused(payload) == [("INVALID_TRANSITION", "ticketId")]
    message = payload["errors"][0]["message"]
    assert "IN_PROGRESS" in message
    await assert_unchanged(api, before)


@pytest.mark.parametrize("who", [OWNER, "bob"])
async def test_customer_cannot_take(api: Api, who: str) -> None:
    before = await ticket_in(api, "OPEN")
    if who == OWNER:
        await forbidden(api, TAKE, who, "customer", ticketId=before["id"])
    else:  # someone else's ticket does not exist for a customer
        payload = await run(api, TAKE, who, ticketId=before["id"])
        assert refused(payload) == [("NOT_FOUND", "ticketId")]
    await assert_unchanged(api, before)


async def test_five_agents_take_at_once_and_exactly_one_wins(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    agents = [f"agent-{n}" for n in range(1, 6)]
    for agent in agents:
        await known(api, agent, "agent")

    payloads = await asyncio.gather(
        *(run(api, TAKE, agent, "agent", ticketId=ticket["id"]) for agent in agents)
    )

    winners = [a for a, p in zip(agents, payloads, strict=True) if not p["errors"]]
    assert len(winners) == 1, payloads
    [winner] = winners
    for agent, payload in zip(agents, payloads, strict=True):
        if agent == winner:
            assert payload["ticket"]["assignee"] == {"sub": winner}
            continue
        assert payload["ticket"] is None
        assert [e["code"] for e in payload["errors"]] in (
            ["INVALID_TRANSITION"],
            ["VERSION_CONFLICT"],
        ), payload
    after = await state(api, ticket["id"])
    assert after["assignee"] == {"sub": winner}
    assert after["version"] == 2
    assert kinds(after) == ["CREATED", "STATUS_CHANGED", "ASSIGNED"]
    assert len(of_kind(after, "ASSIGNED")) == 1


@pytest.mark.parametrize(("who", "role"), [(AGENT, "agent"), ("admin-1", "admin")])
async def test_only_an_open_ticket_can_be_taken(api: Api, who: str, role: str) -> None:
    before = await ticket_in(api, "AWAITING_REPLY")
    payload = await run(api, TAKE, who, role, ticketId=before["id"])
    assert refused(payload) == [("INVALID_TRANSITION", "ticketId")]
    assert "AWAITING_REPLY" in payload["errors"][0]["message"]
    await assert_unchanged(api, before)
    permissions = await can(api, before["id"], who, role)
    assert permissions["takeIntoWork"]["allowed"] is False


async def test_take_with_a_stale_expected_version_is_a_conflict(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    ok(await run(api, URGENT, OWNER, ticketId=ticket["id"], urgent=True))
    before = await state(api, ticket["id"])
    payload = await run(api, TAKE, AGENT, "agent", ticketId=ticket["id"], expectedVersion=1)
    assert refused(payload) == [("VERSION_CONFLICT", "expectedVersion")]
    await assert_unchanged(api, before)
    taken = ok(await run(api, TAKE, AGENT, "agent", ticketId=ticket["id"], expectedVersion=2))
    assert taken["version"] == 3


# --- assignTicket --------------------------------------------------------------------------


async def test_admin_assigns_an_open_ticket_into_work(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    agent_2 = await known(api, "agent-2", "agent")
    assigned = ok(
        await run(api, ASSIGN, "admin-1", "admin", ticketId=ticket["id"], assigneeId=agent_2)
    )
    assert assigned["status"] == "IN_PROGRESS"
    assert assigned["assignee"] == {"sub": "agent-2"}
    assert assigned["version"] == 2

    after = await state(api, ticket["id"])
    assert kinds(after) == ["CREATED", "STATUS_CHANGED", "ASSIGNED"]
    changed, event = after["events"][1:]
    assert (changed["fromStatus"], changed["toStatus"]) == ("OPEN", "IN_PROGRESS")
    assert (user_id(event["fromAssignee"]), user_id(event["toAssignee"])) == (None, "agent-2")
    assert event["actor"] == {"sub": "admin-1"}
    # The new assignee works it; the admin's choice is not the admin's ticket.
    ok(await run(api, STATUS, "agent-2", "agent", ticketId=ticket["id"], status="AWAITING_REPLY"))


async def test_assigned_agent_hands_over_to_another_agent(api: Api) -> None:
    before = await ticket_in(api, "AWAITING_REPLY")
    tid = before["id"]
    agent_2 = await known(api, "agent-2", "agent")
    handed = ok(await run(api, ASSIGN, AGENT, "agent", ticketId=tid, assigneeId=agent_2))
    assert handed["assignee"] == {"sub": "agent-2"}
    assert handed["status"] == "AWAITING_REPLY"
    assert handed["version"] == before["version"] + 1

    after = await state(api, tid)
    assert kinds(after) == [*kinds(before), "ASSIGNED"]
    event = after["events"][-1]
    assert (user_id(event["fromAssignee"]), user_id(event["toAssignee"])) == (AGENT, "agent-2")
    assert event["actor"] == {"sub": AGENT}
    # The former assignee no longer owns the ticket's status.
    await forbidden(api, STATUS, AGENT, "agent", ticketId=tid, status="IN_PROGRESS")


async def test_assigning_the_current_assignee_changes_nothing(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    agent = await known(api, AGENT, "agent")
    same = ok(await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=agent))
    assert same["version"] == before["version"]
    await assert_unchanged(api, before)


@pytest.mark.parametrize(("who", "role"), [("agent-2", "agent"), (OWNER, "customer")])
async def test_only_an_admin_or_the_assignee_assigns(api: Api, who: str, role: str) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    agent_2 = await known(api, "agent-2", "agent")
    await forbidden(api, ASSIGN, who, role, ticketId=before["id"], assigneeId=agent_2)
    await assert_unchanged(api, before)


async def test_an_agent_cannot_assign_an_open_ticket(api: Api) -> None:
    before = await ticket_in(api, "OPEN")
    agent_2 = await known(api, "agent-2", "agent")
    await forbidden(api, ASSIGN, AGENT, "agent", ticketId=before["id"], assigneeId=agent_2)
    await assert_unchanged(api, before)


@pytest.mark.parametrize(
    ("assignee", "code"),
    [
        (OWNER, "VALIDATION"),
        ("bob", "VALIDATION"),
        ("a ticket's id", "NOT_FOUND"),
        ("malformed", "NOT_FOUND"),
    ],
)
async def test_assignee_must_be_a_known_agent(api: Api, assignee: str, code: str) -> None:
    users = {"bob": await known(api, "bob", "customer"), OWNER: await known(api, OWNER, "customer")}
    before = await ticket_in(api, "IN_PROGRESS")
    assignee_id = {**users, "a ticket's id": before["id"]}.get(assignee, assignee)
    payload = await run(
        api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=assignee_id
    )
    assert refused(payload) == [(code, "assigneeId")]
    await assert_unchanged(api, before)


async def test_the_service_s_own_user_takes_no_tickets(api: Api, clock: Any) -> None:
    """The SLA scheduler's user (it exists once a breach was written) is not an agent."""
    clock.set(datetime.fromisoformat("2026-03-02T10:00:00+00:00"))
    ticket = await create_ticket(api, OWNER, urgent=True)
    clock.advance(timedelta(hours=2))
    ok(await run(api, TAKE, AGENT, "agent", ticketId=ticket["id"]))  # breaches on the way
    system = global_id(USER, "system:sla")
    payload = await run(api, ASSIGN, "admin-1", "admin", ticketId=ticket["id"], assigneeId=system)
    assert refused(payload) == [("VALIDATION", "assigneeId")]


async def test_an_agent_who_never_signed_in_is_not_found(api: Api) -> None:
    before = await ticket_in(api, "OPEN")
    agent_9 = global_id(USER, "agent-9")  # the id agent-9 will have (issued by the same rule)
    payload = await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=agent_9)
    assert refused(payload) == [("NOT_FOUND", "assigneeId")]
    await assert_unchanged(api, before)
    assert await known(api, "agent-9", "agent") == agent_9
    ok(await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=agent_9))
