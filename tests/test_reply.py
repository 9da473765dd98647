"""replyToTicket through the HTTP API."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, TICKET, create_ticket, given_status, missing_id, row_key


async def reply(api: Api, as_: str, role: str = "customer", **fields: object) -> dict:
    data = await api.gql(REPLY, {"input": fields}, as_=as_, role=role)
    return data["replyToTicket"]


async def test_owner_and_agent_continue_the_dialogue(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    first = await reply(api, "ann", ticketId=ticket["id"], body="  More details  ")
    assert first["errors"] == []
    assert first["message"]["body"] == "More details"
    assert first["ticket"]["version"] == 2
    second = await reply(api, "agent-1", "agent", ticketId=ticket["id"], body="Try this")
    assert second["ticket"]["version"] == 3

    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    conversation = data["ticket"]["messages"]
    assert [(m["body"], m["author"]["sub"]) for m in conversation] == [
        ("More details", "ann"),
        ("Try this", "agent-1"),
    ]
    assert data["ticket"]["lastMessage"] == {"body": "Try this"}
    kinds = [e["kind"] for e in data["ticket"]["events"]]
    assert kinds == ["CREATED", "MESSAGE_ADDED", "MESSAGE_ADDED"]
    assert data["ticket"]["events"][2]["message"] == {"body": "Try this"}


async def test_customer_reply_to_awaiting_reply_resumes_work(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await given_status(ticket["id"], "AWAITING_REPLY", assignee="agent-1")
    result = await reply(api, "ann", ticketId=ticket["id"], body="Here is the screenshot")
    assert result["ticket"]["status"] == "IN_PROGRESS"
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    status_events = [e for e in data["ticket"]["events"] if e["kind"] == "STATUS_CHANGED"]
    assert [(e["fromStatus"], e["toStatus"], e["actor"]["sub"]) for e in status_events] == [
        ("AWAITING_REPLY", "IN_PROGRESS", "ann")
    ]


async def test_agent_reply_on_awaiting_reply_keeps_waiting(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await given_status(ticket["id"], "AWAITING_REPLY", assignee="agent-1")
    result = await reply(api, "agent-1", "agent", ticketId=ticket["id"], body="Reminder")
    assert result["ticket"]["status"] == "AWAITING_REPLY"


async def test_agent_asks_for_information(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await given_status(ticket["id"], "IN_PROGRESS", assignee="agent-1")
    result = await reply(
        api,
        "agent-1",
        "agent",
        ticketId=ticket["id"],
        body="Which browser?",
        awaitCustomerReply=True,
    )
    assert result["errors"] == []
    assert result["ticket"]["status"] == "AWAITING_REPLY"


async def test_awaiting_reply_from_open_is_an_invalid_transition(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    result = await reply(
        api, "agent-1", "agent", ticketId=ticket["id"], body="?", awaitCustomerReply=True
    )
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID_TRANSITION", "awaitCustomerReply")
    ]
    assert "OPEN" in result["errors"][0]["message"]
    assert "AWAITING_REPLY" in result["errors"][0]["message"]
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert data["ticket"]["messages"] == [] and data["ticket"]["version"] == 1


@pytest.mark.parametrize("final", ["CLOSED", "REJECTED"])
async def test_final_ticket_refuses_replies_and_points_to_a_new_ticket(
    api: Api, final: str
) -> None:
    ticket = await create_ticket(api, "ann")
    await given_status(ticket["id"], final)
    for who, role in (("ann", "customer"), ("agent-1", "agent")):
        result = await reply(api, who, role, ticketId=ticket["id"], body="Still broken")
        assert result["message"] is None
        [error] = result["errors"]
        assert error["code"] == "TICKET_FINAL"
        assert "new ticket" in error["message"] and "followUpOf" in error["message"]
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert data["ticket"]["messages"] == []
    follow_up = await create_ticket(api, "ann", followUpOf=ticket["id"])
    assert follow_up["followUpOf"]["id"] == ticket["id"]


async def test_internal_note_is_hidden_from_the_customer(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    note = await reply(api, "agent-1", "agent", ticketId=ticket["id"], body="VIP", internal=True)
    assert note["message"]["internal"] is True
    as_owner = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert as_owner["ticket"]["messages"] == []
    assert as_owner["ticket"]["lastMessage"] is None
    assert [e["kind"] for e in as_owner["ticket"]["events"]] == ["CREATED"]
    as_agent = await api.gql(TICKET, {"id": ticket["id"]}, as_="agent-2", role="agent")
    assert [m["body"] for m in as_agent["ticket"]["messages"]] == ["VIP"]


@pytest.mark.parametrize("flag", ["internal", "awaitCustomerReply"])
async def test_customer_cannot_use_agent_flags(api: Api, flag: str) -> None:
    ticket = await create_ticket(api, "ann")
    error = await api.error(
        REPLY, {"input": {"ticketId": ticket["id"], "body": "x", flag: True}}, as_="ann"
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert data["ticket"]["messages"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [("", "body"), ("   ", "body"), ("b" * 10_001, "body")],
)
async def test_bad_body_is_refused(api: Api, body: str, field: str) -> None:
    ticket = await create_ticket(api, "ann")
    result = await reply(api, "ann", ticketId=ticket["id"], body=body)
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("VALIDATION", field)]
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert data["ticket"]["messages"] == [] and data["ticket"]["version"] == 1


async def test_internal_note_cannot_await_a_reply(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await given_status(ticket["id"], "IN_PROGRESS", assignee="agent-1")
    result = await reply(
        api,
        "agent-1",
        "agent",
        ticketId=ticket["id"],
        body="x",
        internal=True,
        awaitCustomerReply=True,
    )
    assert [e["field"] for e in result["errors"]] == ["awaitCustomerReply"]


@pytest.mark.parametrize("ticket_id", ["missing", "abc", "-1", "its number", "a user's id"])
async def test_missing_ticket_is_not_found(api: Api, ticket_id: str) -> None:
    """An unknown id, a malformed one, the row number it had before ids were global, and a
    well-formed id of another type: each names no ticket."""
    ticket = await create_ticket(api, "ann")
    me = await api.gql("{ me { id } }", as_="ann")
    ticket_id = {
        "missing": missing_id("Ticket"),
        "its number": str(row_key(ticket["id"])),
        "a user's id": me["me"]["id"],
    }.get(ticket_id, ticket_id)
    result = await reply(api, "ann", ticketId=ticket_id, body="hello")
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "ticketId")]


async def test_foreign_ticket_is_not_found_and_untouched(api: Api) -> None:
    ticket = await create_ticket(api, "bob")
    result = await reply(api, "ann", ticketId=ticket["id"], body="hello")
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_FOUND", "ticketId")]
    assert result["errors"][0]["message"] == "Ticket not found."
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="bob")
    assert data["ticket"]["messages"] == []


async def test_reply_is_idempotent_per_user(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    first = await reply(api, "ann", ticketId=ticket["id"], body="once", clientMutationId="r1")
    again = await reply(api, "ann", ticketId=ticket["id"], body="once", clientMutationId="r1")
    assert again["message"]["id"] == first["message"]["id"]
    assert again["clientMutationId"] == "r1"
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert [m["body"] for m in data["ticket"]["messages"]] == ["once"]
    assert data["ticket"]["version"] == 2
