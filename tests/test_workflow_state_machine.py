"""Random sequences of workflow operations through the HTTP API keep the ticket invariants:
legal transitions only, an assignee while in work, a reason on REJECTED, final is final,
one version step and at least one event per change (none on refusal)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from models import TicketStatus
from server.app import create_app
from services.workflow import TRANSITIONS
from tests.conftest import Api, Backend, _empty_tables
from tests.fixtures import CREATE, REPLY, row_key

ACTORS = [
    ("owner", "customer"),
    ("stranger", "customer"),
    ("agent-a", "agent"),
    ("agent-b", "agent"),
    ("boss", "admin"),
]
actors = st.sampled_from(ACTORS)
STATE = """query($id: ID!) { ticket(id: $id) {
  status version assignee { sub } rejectionReason closedAt category { slug }
  pendingRecategorization { id } events { id } } }"""


def payload_ok(data: dict[str, Any]) -> bool:
    (result,) = data.values()
    return not result["errors"]


class TicketWorkflow(RuleBasedStateMachine):
    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(create_app(self.backend.settings())), loop=self.loop)
        self.run(self.client.start_server())
        self.run(_empty_tables())
        self.api = Api(self.client)
        self.ticket_id = ""
        self.user_ids: dict[str, str] = {}
        self.state: dict[str, Any] = {}
        self.previous: dict[str, Any] = {}
        self.succeeded = False

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.client.close())
        self.loop.close()

    def read(self) -> dict[str, Any]:
        data = self.run(self.api.gql(STATE, {"id": self.ticket_id}, as_="boss", role="admin"))
        return data["ticket"]

    def mutate(self, query: str, variables: dict[str, Any], actor: tuple[str, str]) -> None:
        self.previous = self.state
        status, body = self.run(self.api.post(query, variables, as_=actor[0], role=actor[1]))
        assert status == 200, body
        if body.get("errors"):
            codes = {e["extensions"]["code"] for e in body["errors"]}
            assert codes <= {"FORBIDDEN"}, body
            self.succeeded = False
        else:
            self.succeeded = payload_ok(body["data"])
        self.state = self.read()

    @initialize()
    def create(self) -> None:
        for user, role in ACTORS:
            me = self.run(self.api.gql("{ me { id } }", as_=user, role=role))
            self.user_ids[user] = me["me"]["id"]
        values = {"categorySlug": "app-help", "question": "Help"}
        data = self.run(self.api.gql(CREATE, {"input": values}, as_="owner"))
        self.ticket_id = data["createTicket"]["ticket"]["id"]
        self.state = self.read()

    @rule(actor=actors)
    def take(self, actor: tuple[str, str]) -> None:
        query = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }"
        self.mutate(query, {"i": {"ticketId": self.ticket_id}}, actor)

    @rule(
        actor=actors,
        status=st.sampled_from(list(TicketStatus)),
        reason=st.sampled_from([None, "", "  ", "Duplicate of #1"]),
    )
    def change_status(
        self, actor: tuple[str, str], status: TicketStatus, reason: str | None
    ) -> None:
        query = (
            "mutation($i: ChangeTicketStatusInput!) "
            "{ changeTicketStatus(input: $i) { errors { code } } }"
        )
        variables = {"i": {"ticketId": self.ticket_id, "status": status.value, "reason": reason}}
        self.mutate(query, variables, actor)

    @rule(actor=actors, await_reply=st.booleans(), internal=st.booleans())
    def reply(self, actor: tuple[str, str], await_reply: bool, internal: bool) -> None:
        variables = {
            "input": {
                "ticketId": self.ticket_id,
                "body": "text",
                "awaitCustomerReply": await_reply,
                "internal": internal,
            }
        }
        self.mutate(REPLY, variables, actor)

    @rule(actor=actors, to=st.sampled_from(["agent-a", "agent-b", "owner"]))
    def assign(self, actor: tuple[str, str], to: str) -> None:
        query = "mutation($i: AssignTicketInput!) { assignTicket(input: $i) { errors { code } } }"
        self.mutate(
            query, {"i": {"ticketId": self.ticket_id, "assigneeId": self.user_ids[to]}}, actor
        )

    @rule(actor=actors, slug=st.sampled_from(["app-help", "system-errors", "other"]))
    def recategorize(self, actor: tuple[str, str], slug: str) -> None:
        query = (
            "mutation($i: RecategorizeTicketInput!) "
            "{ recategorizeTicket(input: $i) { errors { code } } }"
        )
        self.mutate(query, {"i": {"ticketId": self.ticket_id, "categorySlug": slug}}, actor)

    @rule(actor=actors, approve=st.booleans())
    def decide(self, actor: tuple[str, str], approve: bool) -> None:
        pending = self.state["pendingRecategorization"]
        if pending is None:
            return
        name = "approveRecategorization" if approve else "declineRecategorization"
        kind = "Approve" if approve else "Decline"
        query = (
            f"mutation($i: {kind}RecategorizationInput!) "
            f"{{ {name}(input: $i) {{ errors {{ code }} }} }}"
        )
        self.mutate(query, {"i": {"requestId": pending["id"]}}, actor)

    @rule(actor=actors, urgent=st.booleans())
    def set_urgent(self, actor: tuple[str, str], urgent: bool) -> None:
        query = (
            "mutation($i: SetTicketUrgentInput!) { setTicketUrgent(input: $i) { errors { code } } }"
        )
        self.mutate(query, {"i": {"ticketId": self.ticket_id, "urgent": urgent}}, actor)

    @invariant()
    def legal_transition(self) -> None:
        if not self.previous:
            return
        before = TicketStatus(self.previous["status"])
        after = TicketStatus(self.state["status"])
        assert after == before or after in TRANSITIONS[before], (before, after)

    @invariant()
    def assignee_while_in_work(self) -> None:
        if self.state and self.state["status"] in {"IN_PROGRESS", "AWAITING_REPLY"}:
            assert self.state["assignee"] is not None

    @invariant()
    def reason_on_rejected(self) -> None:
        if self.state and self.state["status"] == "REJECTED":
            assert (self.state["rejectionReason"] or "").strip()

    @invariant()
    def final_is_final(self) -> None:
        if self.previous and self.previous["status"] in {"CLOSED", "REJECTED"}:
            assert self.state["version"] == self.previous["version"]
            assert self.state["status"] == self.previous["status"]
            assert self.state["closedAt"] == self.previous["closedAt"]
        if self.state and self.state["status"] in {"CLOSED", "REJECTED"}:
            assert self.state["closedAt"] is not None
            assert self.state["pendingRecategorization"] is None

    @invariant()
    def one_version_and_events_per_change(self) -> None:
        if not self.previous:
            return
        versions = self.state["version"] - self.previous["version"]
        new_events = len(self.state["events"]) - len(self.previous["events"])
        assert versions in (0, 1)
        if versions:
            assert new_events >= 1
        else:
            assert new_events == 0, "a refused or no-op operation wrote an event"
        ids = [row_key(e["id"]) for e in self.state["events"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_workflow_invariants(backend: Backend) -> None:
    TicketWorkflow.backend = backend
    machine = TicketWorkflow.TestCase
    machine.settings = settings(
        max_examples=25,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
