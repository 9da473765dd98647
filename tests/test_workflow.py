"""The workflow through the HTTP API: take, status, assignment, urgency, recategorization,
recommended solution, timeline, the event log, the FAQ and `viewerCan`.

State is driven through the mutations themselves. Every refusal is checked twice: the error in
the payload (or the top-level `extensions.code`), and a fresh read showing that nothing changed
(same version, status and events).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket

OWNER = "ann"
AGENT = "agent-1"
WATCHER = "watcher"  # an agent who only reads the state the tests assert on

TICKET_STATE = """
  id status version urgent closedAt rejectionReason
  assignee { id } category { slug }
  pendingRecategorization { id status }
  recommendedSolution { id body }
"""

EVENT_FIELDS = """
  id kind fromStatus toStatus comment urgent actor { id }
  fromAssignee { id } toAssignee { id } fromCategory { slug } toCategory { slug }
  recategorizationRequest { id status } message { id }
"""

REQUEST_FIELDS = """
  id status comment decidedAt fromCategory { slug } toCategory { slug }
  requestedBy { id } decidedBy { id }
"""

STATE = "query State($id: ID!) { ticket(id: $id) { %s events { %s } } }" % (
    TICKET_STATE,
    EVENT_FIELDS,
)


def _mutation(name: str, input_type: str, extra: str = "") -> str:
    return """
mutation M($input: %s!) {
  %s(input: $input) { ticket { %s } %s errors { code field message } }
}""" % (input_type, name, TICKET_STATE, extra)


TAKE = _mutation("takeTicket", "TakeTicketInput")
STATUS = _mutation("changeTicketStatus", "ChangeTicketStatusInput")
ASSIGN = _mutation("assignTicket", "AssignTicketInput")
URGENT = _mutation("setTicketUrgent", "SetTicketUrgentInput")
MARK = _mutation("markRecommendedSolution", "MarkRecommendedSolutionInput")
RECATEGORIZE = _mutation(
    "recategorizeTicket", "RecategorizeTicketInput", "applied request { %s }" % REQUEST_FIELDS
)
APPROVE = _mutation(
    "approveRecategorization", "ApproveRecategorizationInput", "request { %s }" % REQUEST_FIELDS
)
DECLINE = _mutation(
    "declineRecategorization", "DeclineRecategorizationInput", "request { %s }" % REQUEST_FIELDS
)

TIMELINE = """
query Timeline($id: ID!) {
  ticket(id: $id) {
    timeline {
      __typename
      ... on Message { id body internal createdAt }
      ... on TicketEvent { id kind fromStatus toStatus at }
    }
    events { kind }
  }
}"""

EVENTS = """
query Events($ticketId: ID, $after: String, $first: Int) {
  ticketEvents(ticketId: $ticketId, after: $after, first: $first) {
    edges { cursor node { id kind ticket { id } message { id internal } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

FAQ = """
query Faq($kind: FaqKind) {
  faq(kind: $kind) {
    slug kind questionRu questionEn answerRu answerEn
    question en: question(locale: EN) answer answerEn2: answer(locale: EN)
  }
}"""

PERMISSIONS = [
    "reply",
    "takeIntoWork",
    "changeStatus",
    "recategorize",
    "requestRecategorization",
    "close",
    "reject",
    "assign",
    "setUrgent",
    "decideRecategorization",
    "markSolution",
]
VIEWER_CAN = "query Can($id: ID!) { ticket(id: $id) { viewerCan { %s } } }" % " ".join(
    f"{name} {{ allowed reason }}" for name in PERMISSIONS
)

NON_FINAL = ["OPEN", "IN_PROGRESS", "AWAITING_REPLY"]
FINAL = ["CLOSED", "REJECTED"]
ALL_STATUSES = NON_FINAL + FINAL


# --- helpers -------------------------------------------------------------------------------


async def run(
    api: Api, query: str, as_: str, role: str = "customer", **fields: Any
) -> dict[str, Any]:
    """Execute one workflow mutation and return its payload."""
    data = await api.gql(query, {"input": fields}, as_=as_, role=role)
    [payload] = data.values()
    return payload


def ok(payload: dict[str, Any]) -> dict[str, Any]:
    assert payload["errors"] == [], payload["errors"]
    assert payload["ticket"] is not None
    return payload["ticket"]


def refused(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The (code, field) pairs of a refused mutation, which returns no ticket."""
    assert payload["ticket"] is None, payload
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def forbidden(api: Api, query: str, as_: str, role: str, **fields: Any) -> dict[str, Any]:
    error = await api.error(query, {"input": fields}, as_=as_, role=role)
    assert error["extensions"]["code"] == "FORBIDDEN", error
    assert error["message"]
    return error


async def state(api: Api, ticket_id: str) -> dict[str, Any]:
    """The ticket as an agent sees it, with its whole history."""
    data = await api.gql(STATE, {"id": ticket_id}, as_=WATCHER, role="agent")
    assert data["ticket"] is not None
    return data["ticket"]


async def assert_unchanged(api: Api, before: dict[str, Any]) -> None:
    """Nothing changed: same version, status, fields and events as `before`."""
    assert await state(api, before["id"]) == before


def kinds(ticket: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in ticket["events"]]


def of_kind(ticket: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in ticket["events"] if e["kind"] == kind]


def user_id(user: dict[str, Any] | None) -> str | None:
    return None if user is None else user["id"]


async def known(api: Api, who: str, role: str) -> None:
    """Users exist once they have made a request."""
    await api.gql("{ me { id } }", as_=who, role=role)


async def reply(api: Api, as_: str, role: str = "customer", **fields: Any) -> dict[str, Any]:
    data = await api.gql(REPLY, {"input": fields}, as_=as_, role=role)
    payload = data["replyToTicket"]
    assert payload["errors"] == [], payload["errors"]
    return payload


async def ticket_in(
    api: Api, status: str, owner: str = OWNER, agent: str = AGENT, **fields: Any
) -> dict[str, Any]:
    """A new ticket brought to `status` through the API (taken by `agent` past OPEN)."""
    created = await create_ticket(api, owner, **fields)
    tid = created["id"]
    if status != "OPEN":
        ok(await run(api, TAKE, agent, "agent", ticketId=tid))
    if status == "AWAITING_REPLY":
        ok(await run(api, STATUS, agent, "agent", ticketId=tid, status="AWAITING_REPLY"))
    elif status == "CLOSED":
        ok(await run(api, STATUS, agent, "agent", ticketId=tid, status="CLOSED"))
    elif status == "REJECTED":
        ok(await run(api, STATUS, agent, "agent", ticketId=tid, status="REJECTED", reason="Spam"))
    ticket = await state(api, tid)
    assert ticket["status"] == status
    return ticket


# --- takeTicket ----------------------------------------------------------------------------


async def test_take_assigns_the_agent_and_records_both_events(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    taken = ok(await run(api, TAKE, AGENT, "agent", ticketId=ticket["id"]))
    assert taken["status"] == "IN_PROGRESS"
    assert taken["assignee"] == {"id": AGENT}
    assert taken["version"] == 2

    after = await state(api, ticket["id"])
    assert after["status"] == "IN_PROGRESS" and after["assignee"] == {"id": AGENT}
    assert kinds(after) == ["CREATED", "STATUS_CHANGED", "ASSIGNED"]
    changed, assigned = after["events"][1:]
    assert (changed["fromStatus"], changed["toStatus"], changed["actor"]) == (
        "OPEN",
        "IN_PROGRESS",
        {"id": AGENT},
    )
    assert assigned["fromAssignee"] is None
    assert assigned["toAssignee"] == {"id": AGENT}
    assert assigned["actor"] == {"id": AGENT}


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
            assert payload["ticket"]["assignee"] == {"id": winner}
            continue
        assert payload["ticket"] is None
        assert [e["code"] for e in payload["errors"]] in (
            ["INVALID_TRANSITION"],
            ["VERSION_CONFLICT"],
        ), payload
    after = await state(api, ticket["id"])
    assert after["assignee"] == {"id": winner}
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
    assert after["assignee"] == {"id": AGENT}
    transitions = [(e["fromStatus"], e["toStatus"]) for e in of_kind(after, "STATUS_CHANGED")]
    assert transitions == [
        ("OPEN", "IN_PROGRESS"),
        ("IN_PROGRESS", "AWAITING_REPLY"),
        ("AWAITING_REPLY", "IN_PROGRESS"),
        ("IN_PROGRESS", "AWAITING_REPLY"),
        ("AWAITING_REPLY", "CLOSED"),
    ]
    assert all(e["actor"] == {"id": AGENT} for e in of_kind(after, "STATUS_CHANGED"))


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
    attempts: list[tuple[str, str, str, dict[str, Any]]] = [
        *(
            (STATUS, who, role, {"status": s, "reason": "Again"})
            for s in ALL_STATUSES
            for who, role in ((AGENT, "agent"), ("admin-1", "admin"))
        ),
        (TAKE, "agent-2", "agent", {}),
        (ASSIGN, "admin-1", "admin", {"assigneeId": AGENT}),
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
        {"id": OWNER},
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
    assert changed["assignee"] == {"id": AGENT}
    after = await state(api, tid)
    assert after["events"][-1]["actor"] == {"id": "admin-1"}


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
    await known(api, "agent-2", "agent")
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        (URGENT, OWNER, "customer", {"urgent": True}),
        (RECATEGORIZE, OWNER, "customer", {"categorySlug": "system-errors"}),
        (TAKE, AGENT, "agent", {}),
        (RECATEGORIZE, OWNER, "customer", {"categorySlug": "app-help"}),
        (URGENT, AGENT, "agent", {"urgent": False}),
        (ASSIGN, AGENT, "agent", {"assigneeId": "agent-2"}),
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
    actors = [e["actor"]["id"] for e in of_kind(after, "STATUS_CHANGED")]
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


# --- assignTicket --------------------------------------------------------------------------


async def test_admin_assigns_an_open_ticket_into_work(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)
    await known(api, "agent-2", "agent")
    assigned = ok(
        await run(api, ASSIGN, "admin-1", "admin", ticketId=ticket["id"], assigneeId="agent-2")
    )
    assert assigned["status"] == "IN_PROGRESS"
    assert assigned["assignee"] == {"id": "agent-2"}
    assert assigned["version"] == 2

    after = await state(api, ticket["id"])
    assert kinds(after) == ["CREATED", "STATUS_CHANGED", "ASSIGNED"]
    changed, event = after["events"][1:]
    assert (changed["fromStatus"], changed["toStatus"]) == ("OPEN", "IN_PROGRESS")
    assert (user_id(event["fromAssignee"]), user_id(event["toAssignee"])) == (None, "agent-2")
    assert event["actor"] == {"id": "admin-1"}
    # The new assignee works it; the admin's choice is not the admin's ticket.
    ok(await run(api, STATUS, "agent-2", "agent", ticketId=ticket["id"], status="AWAITING_REPLY"))


async def test_assigned_agent_hands_over_to_another_agent(api: Api) -> None:
    before = await ticket_in(api, "AWAITING_REPLY")
    tid = before["id"]
    await known(api, "agent-2", "agent")
    handed = ok(await run(api, ASSIGN, AGENT, "agent", ticketId=tid, assigneeId="agent-2"))
    assert handed["assignee"] == {"id": "agent-2"}
    assert handed["status"] == "AWAITING_REPLY"
    assert handed["version"] == before["version"] + 1

    after = await state(api, tid)
    assert kinds(after) == [*kinds(before), "ASSIGNED"]
    event = after["events"][-1]
    assert (user_id(event["fromAssignee"]), user_id(event["toAssignee"])) == (AGENT, "agent-2")
    assert event["actor"] == {"id": AGENT}
    # The former assignee no longer owns the ticket's status.
    await forbidden(api, STATUS, AGENT, "agent", ticketId=tid, status="IN_PROGRESS")


async def test_assigning_the_current_assignee_changes_nothing(api: Api) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    same = ok(await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=AGENT))
    assert same["version"] == before["version"]
    await assert_unchanged(api, before)


@pytest.mark.parametrize(("who", "role"), [("agent-2", "agent"), (OWNER, "customer")])
async def test_only_an_admin_or_the_assignee_assigns(api: Api, who: str, role: str) -> None:
    before = await ticket_in(api, "IN_PROGRESS")
    await known(api, "agent-2", "agent")
    await forbidden(api, ASSIGN, who, role, ticketId=before["id"], assigneeId="agent-2")
    await assert_unchanged(api, before)


async def test_an_agent_cannot_assign_an_open_ticket(api: Api) -> None:
    before = await ticket_in(api, "OPEN")
    await known(api, "agent-2", "agent")
    await forbidden(api, ASSIGN, AGENT, "agent", ticketId=before["id"], assigneeId="agent-2")
    await assert_unchanged(api, before)


@pytest.mark.parametrize(
    ("assignee", "code"),
    [(OWNER, "VALIDATION"), ("bob", "VALIDATION"), ("nobody", "NOT_FOUND")],
)
async def test_assignee_must_be_a_known_agent(api: Api, assignee: str, code: str) -> None:
    await known(api, "bob", "customer")
    before = await ticket_in(api, "IN_PROGRESS")
    payload = await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId=assignee)
    assert refused(payload) == [(code, "assigneeId")]
    await assert_unchanged(api, before)


async def test_an_agent_who_never_signed_in_is_not_found(api: Api) -> None:
    before = await ticket_in(api, "OPEN")
    payload = await run(
        api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId="agent-9"
    )
    assert refused(payload) == [("NOT_FOUND", "assigneeId")]
    await assert_unchanged(api, before)
    await known(api, "agent-9", "agent")
    ok(await run(api, ASSIGN, "admin-1", "admin", ticketId=before["id"], assigneeId="agent-9"))


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
    changes = [(e["urgent"], e["actor"]["id"]) for e in of_kind(after, "URGENCY_CHANGED")]
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
    assert event["actor"] == {"id": who}


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
    assert request["requestedBy"] == {"id": OWNER}
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
    assert event["actor"] == {"id": OWNER}


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
    assert request["decidedBy"] == {"id": who}
    assert request["decidedAt"] is not None

    after = await state(api, tid)
    assert after["category"] == {"slug": "system-errors"}
    assert kinds(after) == [*kinds(before), "CATEGORY_CHANGED"]
    event = after["events"][-1]
    assert (event["fromCategory"], event["toCategory"]) == (
        {"slug": "app-help"},
        {"slug": "system-errors"},
    )
    assert event["recategorizationRequest"] == {"id": request_id, "status": "APPROVED"}
    assert event["actor"] == {"id": who}


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
    assert request["decidedBy"] == {"id": AGENT}

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
    assert len(after["events"]) == len(before["events"]) + 1
    status = decided[0]["request"]["status"]
    assert after["events"][-1]["recategorizationRequest"] == {"id": request_id, "status": status}
    expected = "system-errors" if status == "APPROVED" else "app-help"
    assert after["category"] == {"slug": expected}


async def test_the_new_assignee_decides_after_a_hand_over(api: Api) -> None:
    tid, request_id = await _requested(api)
    await known(api, "agent-2", "agent")
    ok(await run(api, ASSIGN, AGENT, "agent", ticketId=tid, assigneeId="agent-2"))
    before = await state(api, tid)
    await forbidden(api, APPROVE, AGENT, "agent", requestId=request_id)
    await assert_unchanged(api, before)
    payload = await run(api, APPROVE, "agent-2", "agent", requestId=request_id)
    assert ok(payload)["category"] == {"slug": "system-errors"}
    assert payload["request"]["decidedBy"] == {"id": "agent-2"}


@pytest.mark.parametrize("mutation", [APPROVE, DECLINE])
async def test_a_blank_decision_comment_is_refused(api: Api, mutation: str) -> None:
    tid, request_id = await _requested(api)
    before = await state(api, tid)
    payload = await run(api, mutation, AGENT, "agent", requestId=request_id, comment="   ")
    assert refused(payload) == [("VALIDATION", "comment")]
    assert payload["request"] is None
    await assert_unchanged(api, before)


@pytest.mark.parametrize("request_id", ["999999", "abc"])
async def test_an_unknown_request_is_not_found(api: Api, request_id: str) -> None:
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
    assert kinds(after) == [*kinds(before), "CATEGORY_CHANGED"]
    assert after["events"][-1]["toCategory"] == {"slug": "metric-billing"}


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
    assert [user_id(e["message"]) for e in marks] == [message_id, None]
    assert all(e["actor"] == {"id": AGENT} for e in marks)


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


@pytest.mark.parametrize("message_id", ["other-ticket", "999999", "abc"])
async def test_solution_must_be_a_message_of_this_ticket(api: Api, message_id: str) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
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
        assert after is None or int(info["endCursor"]) > int(after)
        after = info["endCursor"]
    assert seen == [e["id"] for e in everything]
    assert len(set(seen)) == len(seen)
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)
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

    customer_view = await _all_events(api, OWNER, "customer")
    expected = [
        e["id"] for e in agent_view if e["ticket"]["id"] == mine and e["id"] not in internal_ids
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


# --- faq -----------------------------------------------------------------------------------


async def test_faq_is_public_with_four_questions_and_four_tips(api: Api) -> None:
    entries = (await api.gql(FAQ))["faq"]
    assert [e["kind"] for e in entries].count("FAQ") == 4
    assert [e["kind"] for e in entries].count("TIP") == 4
    assert len({e["slug"] for e in entries}) == 8
    for entry in entries:
        assert entry["question"] == entry["questionRu"]
        assert entry["en"] == entry["questionEn"]
        assert entry["answer"] == entry["answerRu"]
        assert entry["answerEn2"] == entry["answerEn"]
        assert entry["questionEn"] != entry["questionRu"]
        assert entry["answerEn"] and entry["answerRu"]

    for kind in ("FAQ", "TIP"):
        only = (await api.gql(FAQ, {"kind": kind}))["faq"]
        assert [e["slug"] for e in only] == [e["slug"] for e in entries if e["kind"] == kind]
        assert len(only) == 4


async def test_faq_on_changing_a_category_names_the_three_stages(api: Api) -> None:
    entries = (await api.gql(FAQ, {"kind": "FAQ"}))["faq"]
    [entry] = [e for e in entries if e["slug"] == "change-category"]
    assert entry["en"] == "Can the category of a ticket be changed?"
    for stage in ("Before processing", "During processing", "After closure"):
        assert stage in entry["answerEn"]
    for stage in ("До обработки", "Во время обработки", "После закрытия"):
        assert stage in entry["answerRu"]


# --- viewerCan -----------------------------------------------------------------------------


async def can(api: Api, ticket_id: str, as_: str, role: str = "customer") -> dict[str, Any]:
    data = await api.gql(VIEWER_CAN, {"id": ticket_id}, as_=as_, role=role)
    permissions = data["ticket"]["viewerCan"]
    for name, permission in permissions.items():
        if permission["allowed"]:
            assert permission["reason"] is None, (name, permission)
        else:
            assert permission["reason"], (name, permission)
    return permissions


def allowed(permissions: dict[str, Any]) -> dict[str, bool]:
    return {name: p["allowed"] for name, p in permissions.items()}


async def test_viewer_can_owner_on_open(api: Api) -> None:
    ticket = await ticket_in(api, "OPEN")
    permissions = await can(api, ticket["id"], OWNER)
    assert allowed(permissions) == {
        "reply": True,
        "takeIntoWork": False,
        "changeStatus": True,
        "recategorize": True,
        "requestRecategorization": False,
        "close": True,
        "reject": False,
        "assign": False,
        "setUrgent": True,
        "decideRecategorization": False,
        "markSolution": False,
    }
    # and the mutations agree
    ok(await run(api, URGENT, OWNER, ticketId=ticket["id"], urgent=True))
    await forbidden(api, TAKE, OWNER, "customer", ticketId=ticket["id"])


async def test_viewer_can_owner_on_in_progress(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    tid = ticket["id"]
    permissions = await can(api, tid, OWNER)
    assert permissions["recategorize"]["allowed"] is False
    assert "request" in permissions["recategorize"]["reason"]
    assert permissions["requestRecategorization"]["allowed"] is True
    assert permissions["close"]["allowed"] is False
    assert permissions["reply"]["allowed"] is True
    assert permissions["setUrgent"]["allowed"] is True

    await run(api, RECATEGORIZE, OWNER, ticketId=tid, categorySlug="system-errors")
    permissions = await can(api, tid, OWNER)
    assert permissions["requestRecategorization"]["allowed"] is False
    assert "already waiting" in permissions["requestRecategorization"]["reason"]
    assert permissions["decideRecategorization"]["allowed"] is False


async def test_viewer_can_assigned_agent_on_in_progress(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    permissions = allowed(await can(api, ticket["id"], AGENT, "agent"))
    for name in ("changeStatus", "reject", "close", "assign", "reply", "recategorize"):
        assert permissions[name] is True, name
    for name in ("setUrgent", "markSolution"):
        assert permissions[name] is True, name
    assert permissions["takeIntoWork"] is False
    assert permissions["requestRecategorization"] is False
    assert permissions["decideRecategorization"] is False

    await run(api, RECATEGORIZE, OWNER, ticketId=ticket["id"], categorySlug="system-errors")
    permissions = allowed(await can(api, ticket["id"], AGENT, "agent"))
    assert permissions["decideRecategorization"] is True


async def test_viewer_can_another_agent_on_in_progress(api: Api) -> None:
    ticket = await ticket_in(api, "IN_PROGRESS")
    permissions = await can(api, ticket["id"], "agent-2", "agent")
    assert permissions["changeStatus"]["allowed"] is False
    assert "another agent" in permissions["changeStatus"]["reason"]
    assert permissions["reply"]["allowed"] is True
    for name in ("close", "reject", "assign", "recategorize", "markSolution", "takeIntoWork"):
        assert permissions[name]["allowed"] is False, name
    admin = allowed(await can(api, ticket["id"], "admin-1", "admin"))
    assert admin["changeStatus"] and admin["close"] and admin["assign"]


@pytest.mark.parametrize("final", FINAL)
@pytest.mark.parametrize(
    ("who", "role"),
    [(OWNER, "customer"), (AGENT, "agent"), ("agent-2", "agent"), ("admin-1", "admin")],
)
async def test_viewer_can_nothing_on_a_final_ticket(
    api: Api, final: str, who: str, role: str
) -> None:
    ticket = await ticket_in(api, final)
    permissions = await can(api, ticket["id"], who, role)
    assert not any(allowed(permissions).values()), permissions
    assert "new ticket" in permissions["reply"]["reason"]
    assert "new ticket" in permissions["recategorize"]["reason"]


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        (TAKE, {}),
        (STATUS, {"status": "CLOSED"}),
        (ASSIGN, {"assigneeId": AGENT}),
        (URGENT, {"urgent": True}),
        (MARK, {"messageId": None}),
        (RECATEGORIZE, {"categorySlug": "system-errors"}),
    ],
)
async def test_anonymous_workflow_mutations_are_unauthenticated(
    api: Api, query: str, fields: dict[str, Any]
) -> None:
    before = await ticket_in(api, "OPEN")
    error = await api.error(query, {"input": {"ticketId": before["id"], **fields}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
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
