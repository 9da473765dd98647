"""Urgency and the recommended solution, through the HTTP API."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.fixtures import create_ticket, missing_id
from tests.workflow import (
    AGENT,
    MARK,
    OWNER,
    STATE,
    TAKE,
    URGENT,
    assert_unchanged,
    forbidden,
    of_kind,
    ok,
    refused,
    reply,
    run,
    state,
    ticket_in,
)

# --- setTicketUrgent -----------------------------------------------------------------------


async def test_owner_and_agent_toggle_urgency(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    tid = ticket["id"]
    assert ticket["urgent"] is False
    on = ok(await run(api, URGENT, OWNER, ticketId=tid, urgent=True))
    assert on["urgent"] is True and on["version"] == 2
    ok(await run(api, TAKE, AGENT, "agent", ticketId=tid))
    off = ok(await run(api, URGENT, AGENT, "agent", ticketId=tid, urgent=False))
    assert off["urgent"] is False and off["version"] == 4

    after = await state(api, tid)
    changes = [(e["urgent"], e["actor"]["sub"]) for e in of_kind(after, "URGENCY_CHANGED")]
    assert changes == [(True, OWNER), (False, AGENT)]
    seen = await api.gql(STATE, {"id": tid}, as_=OWNER)
    assert [e["urgent"] for e in of_kind(seen["ticket"], "URGENCY_CHANGED")] == [True, False]


@pytest.mark.parametrize("urgent", [False, True])
async def test_setting_the_same_urgency_changes_nothing(api: Api, urgent: bool) -> None:
    ticket = await create_ticket(api, OWNER, urgent=urgent)
    before = await state(api, ticket["id"])
    for who, role in ((OWNER, "customer"), (AGENT, "agent")):
        same = ok(await run(api, URGENT, who, role, ticketId=ticket["id"], urgent=urgent))
        assert same["urgent"] is urgent and same["version"] == 1
    await assert_unchanged(api, before)


# --- markRecommendedSolution ---------------------------------------------------------------


async def test_assigned_agent_recommends_a_reply_and_can_clear_it(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    tid = ticket["id"]
    answer = await reply(api, AGENT, "agent", ticketId=tid, body="Clear the browser cache")
    message_id = answer["message"]["id"]

    marked = ok(await run(api, MARK, AGENT, "agent", ticketId=tid, messageId=message_id))
    assert marked["recommendedSolution"] == {"id": message_id, "body": "Clear the browser cache"}
    assert marked["version"] == answer["ticket"]["version"] + 1
    seen = await api.gql(STATE, {"id": tid}, as_=OWNER)
    assert seen["ticket"]["recommendedSolution"] == {
        "id": message_id,
        "body": "Clear the browser cache",
    }

    cleared = ok(await run(api, MARK, AGENT, "agent", ticketId=tid, messageId=None))
    assert cleared["recommendedSolution"] is None
    assert cleared["version"] == marked["version"] + 1
    after = await state(api, tid)
    assert after["recommendedSolution"] is None
    marks = of_kind(after, "SOLUTION_MARKED")
    assert [e["message"] and e["message"]["id"] for e in marks] == [message_id, None]
    assert all(e["actor"] == {"sub": AGENT} for e in marks)


async def test_marking_the_same_solution_again_changes_nothing(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    tid = ticket["id"]
    answer = await reply(api, AGENT, "agent", ticketId=tid, body="Restart")
    ok(await run(api, MARK, AGENT, "agent", ticketId=tid, messageId=answer["message"]["id"]))
    before = await state(api, tid)
    ok(await run(api, MARK, AGENT, "agent", ticketId=tid, messageId=answer["message"]["id"]))
    await assert_unchanged(api, before)


@pytest.mark.parametrize("kind", ["internal", "customer"])
async def test_only_a_visible_support_reply_can_be_the_solution(api: Api, kind: str) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    tid = ticket["id"]
    if kind == "internal":
        message = await reply(api, AGENT, "agent", ticketId=tid, body="VIP", internal=True)
    else:
        message = await reply(api, OWNER, ticketId=tid, body="I fixed it myself")
    before = await state(api, tid)
    payload = await run(api, MARK, AGENT, "agent", ticketId=tid, messageId=message["message"]["id"])
    assert refused(payload) == [("VALIDATION", "messageId")]
    await assert_unchanged(api, before)


@pytest.mark.parametrize("message_id", ["other-ticket", "missing", "the ticket's id", "abc", "1"])
async def test_solution_must_be_a_message_of_this_ticket(api: Api, message_id: str) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    message_id = {"missing": missing_id("Message"), "the ticket's id": ticket["id"]}.get(
        message_id, message_id
    )
    if message_id == "other-ticket":
        other = await ticket_in(api, "IN_PROGRESS")
        answer = await reply(api, AGENT, "agent", ticketId=other["id"], body="Elsewhere")
        message_id = answer["message"]["id"]
    before = await state(api, ticket["id"])
    payload = await run(api, MARK, AGENT, "agent", ticketId=ticket["id"], messageId=message_id)
    assert refused(payload) == [("NOT_FOUND", "messageId")]
    await assert_unchanged(api, before)


@pytest.mark.parametrize(("who", "role"), [(OWNER, "customer"), ("agent-2", "agent")])
async def test_customer_and_other_agents_cannot_mark(api: Api, who: str, role: str) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    answer = await reply(api, AGENT, "agent", ticketId=ticket["id"], body="Try again")
    before = await state(api, ticket["id"])
    await forbidden(api, MARK, who, role, ticketId=ticket["id"], messageId=answer["message"]["id"])
    await assert_unchanged(api, before)
