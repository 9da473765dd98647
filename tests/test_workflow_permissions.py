"""Who may do what in the workflow: `viewerCan`, and anonymous callers refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.workflow import (
    AGENT,
    ASSIGN,
    FINAL,
    MARK,
    OWNER,
    RECATEGORIZE,
    STATUS,
    TAKE,
    URGENT,
    assert_unchanged,
    can,
    forbidden,
    ok,
    run,
    ticket_in,
)

# --- viewerCan -----------------------------------------------------------------------------


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
