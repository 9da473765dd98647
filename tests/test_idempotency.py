"""clientMutationId: a retry returns the first result, seen as any read would see it; the same
key with another request is refused."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.fixtures import CREATE, REPLY, TICKET, TICKETS, create_ticket

KEY_REUSED = [("VALIDATION", "clientMutationId")]


async def reply(api: Api, as_: str, role: str = "customer", **fields: object) -> dict[str, Any]:
    data = await api.gql(REPLY, {"input": fields}, as_=as_, role=role)
    payload: dict[str, Any] = data["replyToTicket"]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def test_a_key_reused_with_another_question_is_refused(api: Api) -> None:
    first = await create_ticket(api, "ann", clientMutationId="k1", question="First")
    values = {"categorySlug": "app-help", "question": "Second", "clientMutationId": "k1"}
    data = await api.gql(CREATE, {"input": values}, as_="ann")
    payload = data["createTicket"]
    assert payload["ticket"] is None and codes(payload) == KEY_REUSED
    assert "different request" in payload["errors"][0]["message"]
    # Another field (urgency) is another request too; the same request still replays.
    urgent = {"categorySlug": "app-help", "question": "First", "urgent": True}
    data = await api.gql(CREATE, {"input": {**urgent, "clientMutationId": "k1"}}, as_="ann")
    assert codes(data["createTicket"]) == KEY_REUSED
    again = await create_ticket(api, "ann", clientMutationId="k1", question="  First ")
    assert again["id"] == first["id"]
    listed = await api.gql(TICKETS, {}, as_="ann")
    assert listed["tickets"]["totalCount"] == 1


async def test_a_key_reused_with_another_body_is_refused(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    first = await reply(api, "ann", ticketId=ticket["id"], body="once", clientMutationId="r1")
    assert first["errors"] == []
    again = await reply(api, "ann", ticketId=ticket["id"], body="twice", clientMutationId="r1")
    assert again["message"] is None and codes(again) == KEY_REUSED
    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert [m["body"] for m in data["ticket"]["messages"]] == ["once"]
    assert data["ticket"]["version"] == 2


async def test_a_key_reused_for_another_ticket_is_refused_and_that_ticket_untouched(
    api: Api,
) -> None:
    one = await create_ticket(api, "ann")
    two = await create_ticket(api, "ann")
    first = await reply(api, "ann", ticketId=one["id"], body="hello", clientMutationId="r1")
    assert first["errors"] == []
    other = await reply(api, "ann", ticketId=two["id"], body="hello", clientMutationId="r1")
    assert other["ticket"] is None and codes(other) == KEY_REUSED
    data = await api.gql(TICKET, {"id": two["id"]}, as_="ann")
    assert data["ticket"]["messages"] == [] and data["ticket"]["version"] == 1


async def test_a_replay_is_read_as_the_viewer_may_see_it(api: Api) -> None:
    """The same user signed in with another role gets no other customer's ticket back."""
    foreign = await create_ticket(api, "bob", question="Bob's private question")
    as_agent = await reply(
        api, "dual", "agent", ticketId=foreign["id"], body="On it", clientMutationId="r1"
    )
    assert as_agent["errors"] == []
    as_customer = await reply(
        api, "dual", "customer", ticketId=foreign["id"], body="On it", clientMutationId="r1"
    )
    assert as_customer["ticket"] is None and as_customer["message"] is None
    assert codes(as_customer) == [("NOT_FOUND", "ticketId")]


async def test_an_internal_note_never_comes_back_to_a_customer(api: Api) -> None:
    own = await create_ticket(api, "dual")
    note = await reply(
        api, "dual", "agent", ticketId=own["id"], body="Note", internal=True, clientMutationId="n1"
    )
    assert note["message"]["internal"] is True
    replayed = await reply(api, "dual", ticketId=own["id"], body="Note", clientMutationId="n1")
    assert replayed["message"] is None and codes(replayed) == KEY_REUSED
