"""The workflow tests' shared queries and helpers: state is driven through the mutations
themselves, and every refusal is checked twice: the error in the payload (or the top-level
`extensions.code`), and a fresh read showing that nothing changed (same version, status and
events).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket

OWNER = "ann"
AGENT = "agent-1"
WATCHER = "watcher"  # an agent who only reads the state the tests assert on

TICKET_STATE = """
  id status version urgent closedAt rejectionReason
  assignee { sub } category { slug }
  pendingRecategorization { id status }
  recommendedSolution { id body }
"""

EVENT_FIELDS = """
  id kind fromStatus toStatus comment urgent actor { sub }
  fromAssignee { sub } toAssignee { sub } fromCategory { slug } toCategory { slug }
  recategorizationRequest { id status } message { id }
"""

REQUEST_FIELDS = """
  id status comment decidedAt fromCategory { slug } toCategory { slug }
  requestedBy { sub } decidedBy { sub }
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
    return None if user is None else user["sub"]


async def known(api: Api, who: str, role: str) -> str:
    """Users exist once they have made a request; their id (to assign them, to filter by them)."""
    data = await api.gql("{ me { id } }", as_=who, role=role)
    return str(data["me"]["id"])


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


async def can(api: Api, ticket_id: str, as_: str, role: str = "customer") -> dict[str, Any]:
    data = await api.gql(VIEWER_CAN, {"id": ticket_id}, as_=as_, role=role)
    permissions = data["ticket"]["viewerCan"]
    for name, permission in permissions.items():
        if permission["allowed"]:
            assert permission["reason"] is None, (name, permission)
        else:
            assert permission["reason"], (name, permission)
    return permissions
