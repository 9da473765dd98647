"""Status changes through the HTTP API: the working transitions, closing and rejecting,
withdrawal by the owner, versions, and asking the customer for a reply."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.workflow import (
    AGENT,
    ALL_STATUSES,
    ASSIGN,
    FINAL,
    MARK,
    NON_FINAL,
    OWNER,
    RECATEGORIZE,
    STATE,
    STATUS,
    TAKE,
    TIMELINE,
    URGENT,
    assert_unchanged,
    forbidden,
    known,
    of_kind,
    ok,
    refused,
    reply,
    run,
    state,
    ticket_in,
)

# --- changeTicketStatus --------------------------------------------------------------------


async def test_agent_walks_every_working_transition_one_version_at_a_time(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    tid = ticket["id"]
    assert ticket["version"] == 1
    steps = [
        (TAKE, {}),
        (STATUS, {"status": "AWAITING_REPLY"}),
        (STATUS, {"status": "IN_PROGRESS"}),
        (STATUS, {"status": "AWAITING_REPLY"}),
        (STATUS, {"status": "CLOSED"}),
    ]
    version = 1
    for query, fields in steps:
        changed = ok(
            await run(api, query, AGENT, "agent", ticketId=tid, expectedVersion=version, **fields)
        )
        assert changed["version"] == version + 1
        version = changed["version"]
        assert changed["closedAt"] is None or changed["status"] == "CLOSED"

    after = await state(api, tid)
    assert after["version"] == 6
    assert after["status"] == "CLOSED" and after["closedAt"] is not None
    assert after["rejectionReason"] is None
    assert after["assignee"] == {"sub": AGENT}
    transitions = [(e["fromStatus"], e["toStatus"]) for e in of_kind(after, "STATUS_CHANGED")]
    assert transitions == [
        ("OPEN", "IN_PROGRESS"),
        ("IN_PROGRESS", "AWAITING_REPLY"),
        ("AWAITING_REPLY", "IN_PROGRESS"),
        ("IN_PROGRESS", "AWAITING_REPLY"),
        ("AWAITING_REPLY", "CLOSED"),
    ]
    assert all(e["actor"] == {"sub": AGENT} for e in of_kind(after, "STATUS_CHANGED"))


@pytest.mark.parametrize("start", NON_FINAL)
@pytest.mark.parametrize("final", FINAL)
async def test_every_non_final_state_can_be_closed_or_rejected(
    api: Api, start: str, final: str
) -> None:
    before = await ticket_in(api, start)
    assert before["closedAt"] is None
    reason = "Duplicate of an earlier ticket" if final == "REJECTED" else None
    changed = ok(
        await run(api, STATUS, AGENT, "agent", ticketId=before["id"], status=final, reason=reason)
    )
    assert changed["status"] == final
    assert changed["version"] == before["version"] + 1
    assert changed["closedAt"] is not None
    assert changed["rejectionReason"] == reason

    after = await state(api, before["id"])
    assert after["events"][: len(before["events"])] == before["events"]
    [event] = after["events"][len(before["events"]) :]
    assert (event["kind"], event["fromStatus"], event["toStatus"]) == (
        "STATUS_CHANGED",
        start,
        final,
    )
    assert event["comment"] == reason

    seen = await api.gql(STATE, {"id": before["id"]}, as_=OWNER)
    assert seen["ticket"]["status"] == final
    assert seen["ticket"]["rejectionReason"] == reason
    assert seen["ticket"]["closedAt"] is not None


@pytest.mark.parametrize("reason", [None, "", "   \n\t"])
async def test_rejection_needs_a_reason(api: Api, reason: str | None) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    fields: dict[str, Any] = {"ticketId": before["id"], "status": "REJECTED"}
    if reason is not None:
        fields["reason"] = reason
    payload = await run(api, STATUS, AGENT, "agent", **fields)
    assert refused(payload) == [("VALIDATION", "reason")]
    await assert_unchanged(api, before)


async def test_rejection_reason_is_trimmed_and_shown_to_the_customer(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    ok(
        await run(
            api,
            STATUS,
            AGENT,
            "agent",
            ticketId=ticket["id"],
            status="REJECTED",
            reason="  Not a support question  ",
        )
    )
    seen = await api.gql(STATE, {"id": ticket["id"]}, as_=OWNER)
    assert seen["ticket"]["rejectionReason"] == "Not a support question"
    [event] = of_kind(seen["ticket"], "STATUS_CHANGED")
    assert event["comment"] == "Not a support question"


@pytest.mark.parametrize("final", FINAL)
async def test_final_is_final(api: Api, final: str) -> None:
    before = await ticket_in(api, final)
    tid = before["id"]
    await known(api, "admin-1", "admin")
    agent = await known(api, AGENT, "agent")
    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        *(
            (STATUS, who, role, {"status": s, "reason": "Again"})
            for s in ALL_STATUSES
            for who, role in ((AGENT, "agent"), ("admin-1", "admin"))
        ),
        (TAKE, "agent-2", "agent", {}),
        (ASSIGN, "admin-1", "admin", {"assigneeId": agent}),
        (RECATEGORIZE, OWNER, "customer", {"categorySlug": "system-errors"}),
        (RECATEGORIZE, AGENT, "agent", {"categorySlug": "system-errors"}),
        (URGENT, OWNER, "customer", {"urgent": True}),
        (URGENT, AGENT, "agent", {"urgent": True}),
        (MARK, AGENT, "agent", {"messageId": None}),
    ]
    for query, who, role, fields in attempts:
        payload = await run(api, query, who, role, ticketId=tid, **fields)
        assert refused(payload) == [("TICKET_FINAL", "ticketId")], (query, who, fields)
        assert "new ticket" in payload["errors"][0]["message"]
    for who, role in ((OWNER, "customer"), (AGENT, "agent")):
        data = await api.gql(REPLY, {"input": {"ticketId": tid, "body": "Hi?"}}, as_=who, role=role)
        payload = data["replyToTicket"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("TICKET_FINAL", "ticketId")
        ]
        assert payload["message"] is None
    await assert_unchanged(api, before)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("OPEN", "AWAITING_REPLY"),
        ("OPEN", "OPEN"),
        ("IN_PROGRESS", "OPEN"),
        ("IN_PROGRESS", "IN_PROGRESS"),
        ("AWAITING_REPLY", "OPEN"),
        ("AWAITING_REPLY", "AWAITING_REPLY"),
    ],
)
async def test_illegal_transition_names_both_statuses(api: Api, start: str, target: str) -> None:
    before = await ticket_in(api, start)
    payload = await run(api, STATUS, AGENT, "agent", ticketId=before["id"], status=target)
    assert refused(payload) == [("INVALID_TRANSITION", "status")]
    message = payload["errors"][0]["message"]
    assert f"from {start} to {target}" in message
    await assert_unchanged(api, before)


async def test_owner_withdraws_an_open_ticket(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    closed = ok(await run(api, STATUS, OWNER, ticketId=ticket["id"], status="CLOSED"))
    assert closed["status"] == "CLOSED" and closed["closedAt"] is not None
    after = await state(api, ticket["id"])
    [event] = of_kind(after, "STATUS_CHANGED")
    assert (event["fromStatus"], event["toStatus"], event["actor"]) == (
        "OPEN",
        "CLOSED",
        {"sub": OWNER},
    )
    assert after["assignee"] is None


@pytest.mark.parametrize(
    ("start", "target"),
    [
        ("IN_PROGRESS", "CLOSED"),
        ("AWAITING_REPLY", "CLOSED"),
        ("OPEN", "REJECTED"),
        ("OPEN", "IN_PROGRESS"),
        ("IN_PROGRESS", "AWAITING_REPLY"),
        ("AWAITING_REPLY", "IN_PROGRESS"),
    ],
)
async def test_owner_may_only_withdraw_an_open_ticket(api: Api, start: str, target: str) -> None:
    before = await ticket_in(api, start)
    await forbidden(
        api, STATUS, OWNER, "customer", ticketId=before["id"], status=target, reason="Done"
    )
    await assert_unchanged(api, before)


async def test_another_customer_cannot_touch_the_ticket(api: Api) -> None:
    before = await ticket_in(api, "OPEN")
    tid = before["id"]
    for query, fields in (
        (STATUS, {"status": "CLOSED"}),
        (URGENT, {"urgent": True}),
        (RECATEGORIZE, {"categorySlug": "system-errors"}),
    ):
        payload = await run(api, query, "bob", ticketId=tid, **fields)
        assert refused(payload) == [("NOT_FOUND", "ticketId")]
    await assert_unchanged(api, before)


async def test_only_the_assigned_agent_or_an_admin_moves_an_assigned_ticket(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    tid = before["id"]
    for target in ("AWAITING_REPLY", "CLOSED", "REJECTED"):
        error = await forbidden(
            api, STATUS, "agent-2", "agent", ticketId=tid, status=target, reason="Mine now"
        )
        assert "another agent" in error["message"]
    await assert_unchanged(api, before)

    changed = ok(await run(api, STATUS, "admin-1", "admin", ticketId=tid, status="AWAITING_REPLY"))
    assert changed["status"] == "AWAITING_REPLY"
    assert changed["version"] == before["version"] + 1
    assert changed["assignee"] == {"sub": AGENT}
    after = await state(api, tid)
    assert after["events"][-1]["actor"] == {"sub": "admin-1"}


async def test_stale_expected_version_is_a_conflict_and_changes_nothing(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    assert before["version"] == 2
    payload = await run(
        api,
        STATUS,
        AGENT,
        "agent",
        ticketId=before["id"],
        status="CLOSED",
        expectedVersion=1,
    )
    assert refused(payload) == [("VERSION_CONFLICT", "expectedVersion")]
    assert "version 2" in payload["errors"][0]["message"]
    await assert_unchanged(api, before)

    changed = ok(
        await run(
            api, STATUS, AGENT, "agent", ticketId=before["id"], status="CLOSED", expectedVersion=2
        )
    )
    assert changed["version"] == 3


async def test_version_grows_by_one_per_change_of_any_kind(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    tid = ticket["id"]
    agent_2 = await known(api, "agent-2", "agent")
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        (URGENT, OWNER, "customer", {"urgent": True}),
        (RECATEGORIZE, OWNER, "customer", {"categorySlug": "system-errors"}),
        (TAKE, AGENT, "agent", {}),
        (RECATEGORIZE, OWNER, "customer", {"categorySlug": "app-help"}),
        (URGENT, AGENT, "agent", {"urgent": False}),
        (ASSIGN, AGENT, "agent", {"assigneeId": agent_2}),
        (STATUS, "agent-2", "agent", {"status": "AWAITING_REPLY"}),
        (STATUS, "agent-2", "agent", {"status": "REJECTED", "reason": "Out of scope"}),
    ]
    version = 1
    for query, who, role, fields in steps:
        changed = ok(await run(api, query, who, role, ticketId=tid, **fields))
        assert changed["version"] == version + 1, (query, fields)
        version += 1
    after = await state(api, tid)
    assert after["version"] == version == 9


# --- replyToTicket(awaitCustomerReply) -----------------------------------------------------


async def test_agent_asks_and_the_customer_answer_resumes_work(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    tid = ticket["id"]
    asked = await reply(
        api, AGENT, "agent", ticketId=tid, body="Which browser?", awaitCustomerReply=True
    )
    assert asked["ticket"]["status"] == "AWAITING_REPLY"
    assert asked["ticket"]["version"] == 3
    answered = await reply(api, OWNER, ticketId=tid, body="Chrome")
    assert answered["ticket"]["status"] == "IN_PROGRESS"
    assert answered["ticket"]["version"] == 4

    data = await api.gql(TIMELINE, {"id": tid}, as_=OWNER)
    timeline = [
        item["body"]
        if item["__typename"] == "Message"
        else (item["kind"], item["fromStatus"], item["toStatus"])
        for item in data["ticket"]["timeline"]
    ]
    assert timeline == [
        ("CREATED", None, "OPEN"),
        ("STATUS_CHANGED", "OPEN", "IN_PROGRESS"),
        ("ASSIGNED", None, None),
        "Which browser?",
        ("STATUS_CHANGED", "IN_PROGRESS", "AWAITING_REPLY"),
        "Chrome",
        ("STATUS_CHANGED", "AWAITING_REPLY", "IN_PROGRESS"),
    ]
    after = await state(api, tid)
    actors = [e["actor"]["sub"] for e in of_kind(after, "STATUS_CHANGED")]
    assert actors == [AGENT, AGENT, OWNER]


async def test_another_agent_cannot_ask_on_an_assigned_ticket(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    await forbidden(
        api,
        REPLY,
        "agent-2",
        "agent",
        ticketId=before["id"],
        body="Which browser?",
        awaitCustomerReply=True,
    )
    await assert_unchanged(api, before)
