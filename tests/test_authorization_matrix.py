"""Every operation × every kind of viewer × every ticket status: the exact outcome.

The oracle below restates PRODUCT.md's rules independently of `services/policy.py`; the test also
checks that `viewerCan` (asked before the mutation) agrees with what the mutation then does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket, given_status
from tests.ws import connect

OWNER, OTHER, AGENT, ASSIGNED, ADMIN, ANON = (
    "owner",
    "other",
    "agent",
    "assigned",
    "admin",
    "anonymous",
)
ACTORS = {
    OWNER: ("cust-owner", "customer"),
    OTHER: ("cust-other", "customer"),
    AGENT: ("agent-free", "agent"),
    ASSIGNED: ("agent-assigned", "agent"),
    ADMIN: ("admin-1", "admin"),
    ANON: (None, "customer"),
}
STATUSES = ["OPEN", "IN_PROGRESS", "AWAITING_REPLY", "CLOSED", "REJECTED"]
FINAL = {"CLOSED", "REJECTED"}
STAFF = {AGENT, ASSIGNED, ADMIN}

OK, REQUEST, NULL, EMPTY = "ok", "request", "null", "empty"


@dataclass(frozen=True)
class Op:
    name: str
    query: str
    variables: Any  # (ticket_id, message_id, user ids by sub) -> variables
    result: str  # the root field
    can: str | None = None  # the viewerCan field that predicts it


TICKET_Q = "query($id: ID!) { ticket(id: $id) { id } }"
NODE_Q = "query($id: ID!) { node(id: $id) { id ... on Ticket { number } } }"
EVENTS_Q = "query($id: ID) { ticketEvents(ticketId: $id) { edges { node { kind } } } }"
LIST_Q = "{ tickets { edges { node { id } } } }"
TAKE = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { ticket { id } errors { code } } }"
STATUS = (
    "mutation($i: ChangeTicketStatusInput!) "
    "{ changeTicketStatus(input: $i) { ticket { id } errors { code } } }"
)
ASSIGN = (
    "mutation($i: AssignTicketInput!) { assignTicket(input: $i) { ticket { id } errors { code } } }"
)
URGENT = (
    "mutation($i: SetTicketUrgentInput!) "
    "{ setTicketUrgent(input: $i) { ticket { id } errors { code } } }"
)
RECAT = (
    "mutation($i: RecategorizeTicketInput!) "
    "{ recategorizeTicket(input: $i) { ticket { id } applied request { id } errors { code } } }"
)
SOLUTION = (
    "mutation($i: MarkRecommendedSolutionInput!) "
    "{ markRecommendedSolution(input: $i) { ticket { id } errors { code } } }"
)
RATE = "mutation($i: RateTicketInput!) { rateTicket(input: $i) { ticket { id } errors { code } } }"
READ_Q = "query($id: ID!) { ticket(id: $id) { id unreadCount lastReadAt } }"
MARK_READ = (
    "mutation($i: MarkTicketReadInput!) "
    "{ markTicketRead(input: $i) { ticket { id } errors { code } } }"
)
TYPING = (
    "mutation($i: ReportTypingInput!) { reportTyping(input: $i) { typingUntil errors { code } } }"
)

OPS = [
    Op("ticket", TICKET_Q, lambda t, m, u: {"id": t}, "ticket"),
    Op("node", NODE_Q, lambda t, m, u: {"id": t}, "node"),
    Op("ticketEvents", EVENTS_Q, lambda t, m, u: {"id": t}, "ticketEvents"),
    Op("tickets", LIST_Q, lambda t, m, u: {}, "tickets"),
    Op(
        "reply",
        REPLY,
        lambda t, m, u: {"input": {"ticketId": t, "body": "hi"}},
        "replyToTicket",
        "reply",
    ),
    Op(
        "internalNote",
        REPLY,
        lambda t, m, u: {"input": {"ticketId": t, "body": "note", "internal": True}},
        "replyToTicket",
    ),
    Op("take", TAKE, lambda t, m, u: {"i": {"ticketId": t}}, "takeTicket", "takeIntoWork"),
    Op(
        "close",
        STATUS,
        lambda t, m, u: {"i": {"ticketId": t, "status": "CLOSED"}},
        "changeTicketStatus",
        "close",
    ),
    Op(
        "reject",
        STATUS,
        lambda t, m, u: {"i": {"ticketId": t, "status": "REJECTED", "reason": "spam"}},
        "changeTicketStatus",
        "reject",
    ),
    Op(
        "awaitReply",
        STATUS,
        lambda t, m, u: {"i": {"ticketId": t, "status": "AWAITING_REPLY"}},
        "changeTicketStatus",
    ),
    Op(
        "assign",
        ASSIGN,
        lambda t, m, u: {"i": {"ticketId": t, "assigneeId": u["agent-free"]}},
        "assignTicket",
        "assign",
    ),
    Op(
        "setUrgent",
        URGENT,
        lambda t, m, u: {"i": {"ticketId": t, "urgent": True}},
        "setTicketUrgent",
        "setUrgent",
    ),
    Op(
        "recategorize",
        RECAT,
        lambda t, m, u: {"i": {"ticketId": t, "categorySlug": "system-errors"}},
        "recategorizeTicket",
    ),
    Op(
        "markSolution",
        SOLUTION,
        lambda t, m, u: {"i": {"ticketId": t, "messageId": m}},
        "markRecommendedSolution",
        "markSolution",
    ),
    Op("rate", RATE, lambda t, m, u: {"i": {"ticketId": t, "score": 5}}, "rateTicket"),
    Op("readState", READ_Q, lambda t, m, u: {"id": t}, "ticket"),
    Op("markRead", MARK_READ, lambda t, m, u: {"i": {"ticketId": t}}, "markTicketRead"),
    Op("reportTyping", TYPING, lambda t, m, u: {"i": {"ticketId": t}}, "reportTyping"),
]
# Reads, and writes of the viewer's own state that leave the ticket (its version) as it was
# (presence lives apart from tickets).
LEAVE_TICKET = {
    "ticket",
    "node",
    "ticketEvents",
    "tickets",
    "readState",
    "markRead",
    "reportTyping",
}


def expected(op: str, actor: str, status: str) -> str:
    """PRODUCT.md's rules, restated."""
    if actor == ANON:
        return "UNAUTHENTICATED"
    visible = actor != OTHER
    staff = actor in STAFF
    final = status in FINAL
    in_work = status in {"IN_PROGRESS", "AWAITING_REPLY"}
    # On an assigned ticket only the assigned agent or an admin works it.
    works_on = staff and (status == "OPEN" or actor in {ASSIGNED, ADMIN})
    if op in {"ticket", "node", "readState"}:
        return OK if visible else NULL
    if op in {"ticketEvents", "tickets"}:
        return OK if visible else EMPTY
    if op == "internalNote":
        if not staff:
            return "FORBIDDEN"
        return "TICKET_FINAL" if final else OK
    if not visible:
        return "NOT_FOUND"
    if op == "markRead":
        return OK  # anyone who sees a ticket may read it, in any status
    if op == "reportTyping":
        return OK  # whoever sees a ticket may type in it, whatever its status
    if op == "take" and not staff:
        return "FORBIDDEN"
    if op == "rate":
        if actor != OWNER:
            return "FORBIDDEN"
        return OK if status == "CLOSED" else "INVALID_TRANSITION"
    if final:
        return "TICKET_FINAL"
    if op in {"reply", "setUrgent"}:
        return OK
    if op == "take":
        return OK if status == "OPEN" else "INVALID_TRANSITION"
    if op in {"close", "reject"}:
        if actor == OWNER:
            return OK if op == "close" and status == "OPEN" else "FORBIDDEN"
        return OK if works_on else "FORBIDDEN"
    if op == "awaitReply":
        if status != "IN_PROGRESS":
            return "INVALID_TRANSITION"
        return OK if works_on else "FORBIDDEN"
    if op == "assign":
        return OK if actor in {ADMIN} or (actor == ASSIGNED and in_work) else "FORBIDDEN"
    if op == "recategorize":
        if actor == OWNER:
            return OK if status == "OPEN" else REQUEST
        return OK if works_on else "FORBIDDEN"
    if op == "markSolution":
        if not staff:
            return "FORBIDDEN"
        return OK if works_on else "FORBIDDEN"
    raise AssertionError(op)


def outcome(op: Op, status: int, body: dict[str, Any]) -> str:
    if body.get("errors"):
        assert status == 200 and len(body["errors"]) == 1, body
        return body["errors"][0]["extensions"]["code"]
    value = body["data"][op.result]
    if op.name in {"ticket", "node", "readState"}:
        return OK if value else NULL
    if op.name in {"ticketEvents", "tickets"}:
        return OK if value["edges"] else EMPTY
    if value["errors"]:
        assert value.get("ticket") is None, value
        return value["errors"][0]["code"]
    if op.name == "recategorize" and not value["applied"]:
        assert value["request"] is not None
        return REQUEST
    return OK


VIEWER_CAN = """query($id: ID!) { ticket(id: $id) { version viewerCan {
  reply { allowed reason } takeIntoWork { allowed reason } close { allowed reason }
  reject { allowed reason } assign { allowed reason } setUrgent { allowed reason }
  markSolution { allowed reason } recategorize { allowed reason }
  requestRecategorization { allowed reason } } } }"""


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
async def test_authorization_matrix(api: Api, op: Op, actor: str, status: str) -> None:
    user_ids = {}
    for user, role in ACTORS.values():
        if user is not None:
            user_ids[user] = (await api.gql("{ me { id } }", as_=user, role=role))["me"]["id"]
    ticket = await create_ticket(api, "cust-owner")
    solution_author = "agent-free" if status == "OPEN" else "agent-assigned"
    message = await api.gql(
        REPLY,
        {"input": {"ticketId": ticket["id"], "body": "Try restarting"}},
        as_=solution_author,
        role="agent",
    )
    message_id = message["replyToTicket"]["message"]["id"]
    await given_status(ticket["id"], status, None if status == "OPEN" else "agent-assigned")

    user, role = ACTORS[actor]
    want = expected(op.name, actor, status)
    before = await api.gql(VIEWER_CAN, {"id": ticket["id"]}, as_="admin-1", role="admin")
    if op.can and user is not None and actor != OTHER:
        seen = await api.gql(VIEWER_CAN, {"id": ticket["id"]}, as_=user, role=role)
        permission = seen["ticket"]["viewerCan"][op.can]
        assert permission["allowed"] is (want == OK), permission
        assert (permission["reason"] is None) is permission["allowed"]
    if op.name == "recategorize" and user is not None and actor != OTHER:
        seen = await api.gql(VIEWER_CAN, {"id": ticket["id"]}, as_=user, role=role)
        can = seen["ticket"]["viewerCan"]
        assert can["recategorize"]["allowed"] is (want == OK)
        assert can["requestRecategorization"]["allowed"] is (want == REQUEST)

    status_code, body = await api.post(
        op.query, op.variables(ticket["id"], message_id, user_ids), as_=user, role=role
    )
    assert outcome(op, status_code, body) == want

    after = await api.gql(VIEWER_CAN, {"id": ticket["id"]}, as_="admin-1", role="admin")
    changed = after["ticket"]["version"] != before["ticket"]["version"]
    writes = op.name not in LEAVE_TICKET
    assert changed is (writes and want in {OK, REQUEST}), (before, after)


ME_Q = "{ me { sub } }"
PUBLIC_Q = "{ categories { slug } faq { slug } }"
FOLLOW_UP = (
    "mutation($i: CreateTicketInput!) { createTicket(input: $i) { ticket { id } errors { code } } }"
)


@pytest.mark.parametrize("actor", list(ACTORS))
async def test_me_categories_faq_and_follow_ups(api: Api, actor: str) -> None:
    for user, role in ACTORS.values():
        if user is not None:
            await api.gql(ME_Q, as_=user, role=role)
    ticket = await create_ticket(api, "cust-owner")
    user, role = ACTORS[actor]

    public = await api.gql(PUBLIC_Q, as_=user, role=role)
    assert len(public["categories"]) == 3 and len(public["faq"]) == 8

    _, me = await api.post(ME_Q, as_=user, role=role)
    values = {"categorySlug": "app-help", "question": "Again", "followUpOf": ticket["id"]}
    _, created = await api.post(FOLLOW_UP, {"i": values}, as_=user, role=role)
    if actor == ANON:
        assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert created["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        return
    assert me["data"]["me"] == {"sub": user}
    errors = created["data"]["createTicket"]["errors"]
    assert [e["code"] for e in errors] == (["NOT_FOUND"] if actor == OTHER else [])


DECIDE = {
    "approve": (
        "mutation($i: ApproveRecategorizationInput!) "
        "{ approveRecategorization(input: $i) { ticket { id } errors { code } } }"
    ),
    "decline": (
        "mutation($i: DeclineRecategorizationInput!) "
        "{ declineRecategorization(input: $i) { ticket { id } errors { code } } }"
    ),
}


def expected_decision(actor: str, status: str) -> str:
    if actor == ANON:
        return "UNAUTHENTICATED"
    if actor == OTHER:
        return "NOT_FOUND"
    if status in FINAL:
        return "TICKET_FINAL"
    return OK if actor in {ASSIGNED, ADMIN} else "FORBIDDEN"


@pytest.mark.parametrize("status", ["IN_PROGRESS", "AWAITING_REPLY", "CLOSED", "REJECTED"])
@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("decision", list(DECIDE))
async def test_recategorization_decisions(api: Api, decision: str, actor: str, status: str) -> None:
    for user, role in ACTORS.values():
        if user is not None:
            await api.gql(ME_Q, as_=user, role=role)
    ticket = await create_ticket(api, "cust-owner")
    await given_status(ticket["id"], "IN_PROGRESS", "agent-assigned")
    asked = await api.gql(
        RECAT, {"i": {"ticketId": ticket["id"], "categorySlug": "other"}}, as_="cust-owner"
    )
    request_id = asked["recategorizeTicket"]["request"]["id"]
    if status != "IN_PROGRESS":
        move = {"ticketId": ticket["id"], "status": status, "reason": "done"}
        moved = await api.gql(STATUS, {"i": move}, as_="admin-1", role="admin")
        assert moved["changeTicketStatus"]["errors"] == []

    user, role = ACTORS[actor]
    _, body = await api.post(
        DECIDE[decision], {"i": {"requestId": request_id}}, as_=user, role=role
    )
    if body.get("errors"):
        got = body["errors"][0]["extensions"]["code"]
    else:
        (result,) = body["data"].values()
        got = result["errors"][0]["code"] if result["errors"] else OK
    assert got == expected_decision(actor, status)


PRESENCE = "subscription($id: ID!) { ticketPresence(ticketId: $id) { viewers { user { sub } } } }"


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("actor", list(ACTORS))
async def test_who_may_watch_presence(api: Api, actor: str, status: str) -> None:
    """ticketPresence over WebSocket: whoever sees the ticket, whatever its status."""
    ticket = await create_ticket(api, "cust-owner")
    await given_status(ticket["id"], status, None if status == "OPEN" else "agent-assigned")
    user, role = ACTORS[actor]
    payload = {} if user is None else {"token": api.token(user, role)}
    socket = await connect(api.client, payload)
    op = await socket.subscribe(PRESENCE, {"id": ticket["id"]})
    message = await socket.receive()
    await socket.close()
    assert message["id"] == op
    if message["type"] == "next" and "errors" not in message["payload"]:
        got = OK
        viewers = message["payload"]["data"]["ticketPresence"]["viewers"]
        assert [v["user"]["sub"] for v in viewers] == [user]
    else:
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        got = errors[0]["extensions"]["code"]
    assert got == ("UNAUTHENTICATED" if actor == ANON else "NOT_FOUND" if actor == OTHER else OK)
