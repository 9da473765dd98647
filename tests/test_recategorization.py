"""Recategorization through the HTTP API: direct changes, the owner's requests and the
agent's decisions."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.fixtures import create_ticket, missing_id
from tests.workflow import (
    AGENT,
    APPROVE,
    ASSIGN,
    DECLINE,
    FINAL,
    OWNER,
    RECATEGORIZE,
    STATE,
    STATUS,
    assert_unchanged,
    forbidden,
    kinds,
    known,
    of_kind,
    ok,
    refused,
    run,
    state,
    ticket_in,
)

# --- recategorization ----------------------------------------------------------------------


@pytest.mark.parametrize(("who", "role"), [(OWNER, "customer"), (AGENT, "agent")])
async def test_open_ticket_is_recategorized_directly(api: Api, who: str, role: str) -> None:
    ticket = await create_ticket(api, OWNER)
    payload = await run(api, RECATEGORIZE, who, role, ticketId=ticket["id"], categorySlug="other")
    changed = ok(payload)
    assert payload["applied"] is True
    assert payload["request"] is None
    assert changed["category"] == {"slug": "other"}
    assert changed["version"] == 2
    assert changed["pendingRecategorization"] is None

    after = await state(api, ticket["id"])
    [event] = of_kind(after, "CATEGORY_CHANGED")
    assert event["fromCategory"] == {"slug": "app-help"}
    assert event["toCategory"] == {"slug": "other"}
    assert event["actor"] == {"sub": who}


async def test_owner_of_a_ticket_in_work_asks_for_a_recategorization(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    tid = before["id"]
    payload = await run(api, RECATEGORIZE, OWNER, ticketId=tid, categorySlug="system-errors")
    ticket = ok(payload)
    assert payload["applied"] is False
    request = payload["request"]
    assert request["status"] == "PENDING"
    assert request["fromCategory"] == {"slug": "app-help"}
    assert request["toCategory"] == {"slug": "system-errors"}
    assert request["requestedBy"] == {"sub": OWNER}
    assert request["decidedBy"] is None and request["decidedAt"] is None
    assert ticket["category"] == {"slug": "app-help"}
    assert ticket["pendingRecategorization"] == {"id": request["id"], "status": "PENDING"}

    seen = await api.gql(STATE, {"id": tid}, as_=OWNER)
    assert seen["ticket"]["category"] == {"slug": "app-help"}
    assert seen["ticket"]["pendingRecategorization"] == {"id": request["id"], "status": "PENDING"}
    after = await state(api, tid)
    assert kinds(after) == [*kinds(before), "RECATEGORIZATION_REQUESTED"]
    event = after["events"][-1]
    assert event["recategorizationRequest"] == {"id": request["id"], "status": "PENDING"}
    assert (event["fromCategory"], event["toCategory"]) == (
        {"slug": "app-help"},
        {"slug": "system-errors"},
    )
    assert event["actor"] == {"sub": OWNER}


async def test_only_one_request_may_wait(api: Api) -> None:
    ticket = await ticket_in(api, "AWAITING_REPLY")
    tid = ticket["id"]
    first = await run(api, RECATEGORIZE, OWNER, ticketId=tid, categorySlug="system-errors")
    assert first["request"]["status"] == "PENDING"
    before = await state(api, tid)
    second = await run(api, RECATEGORIZE, OWNER, ticketId=tid, categorySlug="metric-billing")
    assert refused(second) == [("REQUEST_PENDING", "ticketId")]
    assert second["request"] is None
    await assert_unchanged(api, before)


async def _requested(api: Api, slug: str = "system-errors") -> tuple[str, str]:
    """A ticket in work (agent-1) with the owner's pending request; (ticket id, request id)."""
    ticket = await ticket_in(api, "IN_PROGRESS")
    payload = await run(api, RECATEGORIZE, OWNER, ticketId=ticket["id"], categorySlug=slug)
    assert payload["errors"] == [] and payload["request"]["status"] == "PENDING"
    return ticket["id"], payload["request"]["id"]


@pytest.mark.parametrize(("who", "role"), [(AGENT, "agent"), ("admin-1", "admin")])
async def test_assigned_agent_or_admin_approves_a_request(api: Api, who: str, role: str) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payload = await run(api, APPROVE, who, role, requestId=request_id)
    ticket = ok(payload)
    assert ticket["category"] == {"slug": "system-errors"}
    assert ticket["pendingRecategorization"] is None
    assert ticket["version"] == before["version"] + 1
    request = payload["request"]
    assert request["id"] == request_id
    assert request["status"] == "APPROVED"
    assert request["decidedBy"] == {"sub": who}
    assert request["decidedAt"] is not None

    after = await state(api, tid)
    assert after["category"] == {"slug": "system-errors"}
    # Another category has another service level: the change re-targets it (staff only).
    assert kinds(after) == [*kinds(before), "CATEGORY_CHANGED", "SLA_RETARGETED"]
    event = of_kind(after, "CATEGORY_CHANGED")[-1]
    assert (event["fromCategory"], event["toCategory"]) == (
        {"slug": "app-help"},
        {"slug": "system-errors"},
    )
    assert event["recategorizationRequest"] == {"id": request_id, "status": "APPROVED"}
    assert event["actor"] == {"sub": who}


async def test_assigned_agent_declines_with_a_comment(api: Api) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payload = await run(
        api, DECLINE, AGENT, "agent", requestId=request_id, comment="  It is an app question  "
    )
    ticket = ok(payload)
    assert ticket["category"] == {"slug": "app-help"}
    assert ticket["pendingRecategorization"] is None
    request = payload["request"]
    assert request["status"] == "DECLINED"
    assert request["comment"] == "It is an app question"
    assert request["decidedBy"] == {"sub": AGENT}

    after = await state(api, tid)
    assert after["category"] == {"slug": "app-help"}
    assert kinds(after) == [*kinds(before), "RECATEGORIZATION_DECLINED"]
    event = after["events"][-1]
    assert event["comment"] == "It is an app question"
    assert event["recategorizationRequest"] == {"id": request_id, "status": "DECLINED"}
    assert event["toCategory"] == {"slug": "system-errors"}
    seen = await api.gql(STATE, {"id": tid}, as_=OWNER)
    [declined] = of_kind(seen["ticket"], "RECATEGORIZATION_DECLINED")
    assert declined["comment"] == "It is an app question"


@pytest.mark.parametrize("mutation", [APPROVE, DECLINE])
@pytest.mark.parametrize(("who", "role"), [("agent-2", "agent"), (OWNER, "customer")])
async def test_only_the_assigned_agent_decides(
    api: Api, mutation: str, who: str, role: str
) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    await forbidden(api, mutation, who, role, requestId=request_id)
    await assert_unchanged(api, before)


async def test_another_customer_does_not_see_the_request(api: Api) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payload = await run(api, APPROVE, "bob", requestId=request_id)
    assert refused(payload) == [("NOT_FOUND", "requestId")]
    await assert_unchanged(api, before)


async def test_owner_cannot_request_the_current_category(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    payload = await run(api, RECATEGORIZE, OWNER, ticketId=before["id"], categorySlug="app-help")
    assert refused(payload) == [("VALIDATION", "categorySlug")]
    assert payload["request"] is None
    await assert_unchanged(api, before)


async def test_concurrent_requests_leave_exactly_one_pending(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    slugs = ["system-errors", "metric-billing", "other"]
    payloads = await asyncio.gather(
        *(run(api, RECATEGORIZE, OWNER, ticketId=before["id"], categorySlug=s) for s in slugs)
    )
    accepted = [p for p in payloads if not p["errors"]]
    assert len(accepted) == 1, payloads
    for payload in payloads:
        if payload is not accepted[0]:
            assert refused(payload) == [("REQUEST_PENDING", "ticketId")]
    after = await state(api, before["id"])
    assert after["pendingRecategorization"]["id"] == accepted[0]["request"]["id"]
    assert kinds(after) == [*kinds(before), "RECATEGORIZATION_REQUESTED"]


async def test_concurrent_decisions_decide_once(api: Api) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payloads = await asyncio.gather(
        run(api, APPROVE, AGENT, "agent", requestId=request_id),
        run(api, DECLINE, AGENT, "agent", requestId=request_id),
        run(api, APPROVE, "admin-1", "admin", requestId=request_id),
        run(api, DECLINE, "admin-1", "admin", requestId=request_id),
    )
    decided = [p for p in payloads if not p["errors"]]
    assert len(decided) == 1, payloads
    for payload in payloads:
        if payload is not decided[0]:
            assert refused(payload) == [("INVALID_TRANSITION", "requestId")]
    after = await state(api, tid)
    assert after["version"] == before["version"] + 1
    status = decided[0]["request"]["status"]
    # An approval also re-targets the service level (one more event, staff only).
    added = kinds(after)[len(before["events"]) :]
    assert added == (["CATEGORY_CHANGED", "SLA_RETARGETED"] if status == "APPROVED" else
                     ["RECATEGORIZATION_DECLINED"])  # fmt: skip
    decision = after["events"][len(before["events"])]
    assert decision["recategorizationRequest"] == {"id": request_id, "status": status}
    expected = "system-errors" if status == "APPROVED" else "app-help"
    assert after["category"] == {"slug": expected}


async def test_the_new_assignee_decides_after_a_hand_over(api: Api) -> None:
    tid, request_id = await _requested(api)
    agent_2 = await known(api, "agent-2", "agent")
    ok(await run(api, ASSIGN, AGENT, "agent", ticketId=tid, assigneeId=agent_2))
    before = await state(api, tid)
    await forbidden(api, APPROVE, AGENT, "agent", requestId=request_id)
    await assert_unchanged(api, before)
    payload = await run(api, APPROVE, "agent-2", "agent", requestId=request_id)
    assert ok(payload)["category"] == {"slug": "system-errors"}
    assert payload["request"]["decidedBy"] == {"sub": "agent-2"}


@pytest.mark.parametrize("mutation", [APPROVE, DECLINE])
async def test_a_blank_decision_comment_is_refused(api: Api, mutation: str) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payload = await run(api, mutation, AGENT, "agent", requestId=request_id, comment="   ")
    assert refused(payload) == [("VALIDATION", "comment")]
    assert payload["request"] is None
    await assert_unchanged(api, before)


@pytest.mark.parametrize("request_id", ["missing", "abc", "the ticket's id"])
async def test_an_unknown_request_is_not_found(api: Api, request_id: str) -> None:
    if request_id != "abc":
        tid, _ = await _requested(api)
        request_id = (
            tid if request_id == "the ticket's id" else missing_id("RecategorizationRequest")
        )
    payload = await run(api, APPROVE, AGENT, "agent", requestId=request_id)
    assert refused(payload) == [("NOT_FOUND", "requestId")]


@pytest.mark.parametrize("first", [APPROVE, DECLINE])
@pytest.mark.parametrize("second", [APPROVE, DECLINE])
async def test_a_decided_request_cannot_be_decided_again(api: Api, first: str, second: str) -> None:
    tid, request_id = await _requested(api)
    ok(await run(api, first, AGENT, "agent", requestId=request_id))
    before = await state(api, tid)
    payload = await run(api, second, AGENT, "agent", requestId=request_id)
    assert refused(payload) == [("INVALID_TRANSITION", "requestId")]
    await assert_unchanged(api, before)


@pytest.mark.parametrize("final", FINAL)
async def test_final_status_cancels_a_pending_request(api: Api, final: str) -> None:
    tid, request_id = await _requested(api)
    closed = ok(
        await run(api, STATUS, AGENT, "agent", ticketId=tid, status=final, reason="Resolved")
    )
    assert closed["pendingRecategorization"] is None
    assert closed["category"] == {"slug": "app-help"}
    after = await state(api, tid)
    assert after["pendingRecategorization"] is None
    [requested] = of_kind(after, "RECATEGORIZATION_REQUESTED")
    assert requested["recategorizationRequest"] == {"id": request_id, "status": "CANCELLED"}
    payload = await run(api, APPROVE, AGENT, "agent", requestId=request_id)
    assert refused(payload) == [("TICKET_FINAL", "ticketId")]
    await assert_unchanged(api, after)


@pytest.mark.parametrize(("who", "role"), [(AGENT, "agent"), ("admin-1", "admin")])
async def test_staff_change_the_category_of_a_ticket_in_work_directly(
    api: Api, who: str, role: str
) -> None:
    before = await ticket_in(api, "AWAITING_REPLY")
    payload = await run(
        api, RECATEGORIZE, who, role, ticketId=before["id"], categorySlug="metric-billing"
    )
    ticket = ok(payload)
    assert payload["applied"] is True and payload["request"] is None
    assert ticket["category"] == {"slug": "metric-billing"}
    assert ticket["version"] == before["version"] + 1
    after = await state(api, before["id"])
    # Another category has another service level: the change re-targets it (staff only).
    assert kinds(after) == [*kinds(before), "CATEGORY_CHANGED", "SLA_RETARGETED"]
    assert of_kind(after, "CATEGORY_CHANGED")[-1]["toCategory"] == {"slug": "metric-billing"}


async def test_another_agent_cannot_recategorize_an_assigned_ticket(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    await forbidden(
        api, RECATEGORIZE, "agent-2", "agent", ticketId=before["id"], categorySlug="system-errors"
    )
    await assert_unchanged(api, before)


@pytest.mark.parametrize("start", ["OPEN", "IN_PROGRESS"])
@pytest.mark.parametrize(("who", "role"), [(OWNER, "customer"), (AGENT, "agent")])
@pytest.mark.parametrize(
    ("slug", "code"),
    [("documents-finance", "CATEGORY_REQUIRES_SUBTYPE"), ("no-such-section", "UNKNOWN_CATEGORY")],
)
async def test_recategorization_needs_a_known_leaf(
    api: Api, start: str, who: str, role: str, slug: str, code: str
) -> None:
    before = await ticket_in(api, start)
    payload = await run(api, RECATEGORIZE, who, role, ticketId=before["id"], categorySlug=slug)
    assert refused(payload) == [(code, "categorySlug")]
    assert payload["applied"] is False and payload["request"] is None
    if code == "CATEGORY_REQUIRES_SUBTYPE":
        assert "metric-billing" in payload["errors"][0]["message"]
    await assert_unchanged(api, before)


async def test_direct_recategorization_cancels_a_pending_request(api: Api) -> None:
    """The agent's own decision supersedes the owner's request: approving it later is refused."""
    ticket = await create_ticket(api, "ann")
    take = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }"
    await api.gql(take, {"i": {"ticketId": ticket["id"]}}, as_="agent-1", role="agent")
    recategorize = (
        "mutation($i: RecategorizeTicketInput!) { recategorizeTicket(input: $i) "
        "{ applied request { id status } ticket { category { slug } } errors { code } } }"
    )
    asked = await api.gql(
        recategorize, {"i": {"ticketId": ticket["id"], "categorySlug": "other"}}, as_="ann"
    )
    request_id = asked["recategorizeTicket"]["request"]["id"]
    moved = await api.gql(
        recategorize,
        {"i": {"ticketId": ticket["id"], "categorySlug": "system-errors"}},
        as_="agent-1",
        role="agent",
    )
    assert moved["recategorizeTicket"]["applied"] is True
    state = await api.gql(
        "query($id: ID!) { ticket(id: $id) { category { slug } pendingRecategorization { id } } }",
        {"id": ticket["id"]},
        as_="ann",
    )
    assert state["ticket"] == {
        "category": {"slug": "system-errors"},
        "pendingRecategorization": None,
    }
    approve = (
        "mutation($i: ApproveRecategorizationInput!) "
        "{ approveRecategorization(input: $i) { errors { code message } } }"
    )
    refused = await api.gql(approve, {"i": {"requestId": request_id}}, as_="agent-1", role="agent")
    [error] = refused["approveRecategorization"]["errors"]
    assert error["code"] == "INVALID_TRANSITION" and "CANCELLED" in error["message"]
