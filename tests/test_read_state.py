"""Read state: unread counts per viewer, marking read (forward only, on every device), the unread
filter and count, and the live notice to the reader's other sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from services.validation import CLIENT_MUTATION_ID_MAX
from tests.conftest import Api, Backend
from tests.fixtures import CREATE, REPLY, create_ticket, missing_id
from tests.test_live_processes import connect_url, post_gql, server_processes, token
from tests.ws import connect

READ = """query($id: ID!) { ticket(id: $id) { unreadCount lastReadAt } }"""
EVENTS = """query($id: ID!) { ticket(id: $id) { events { id kind at } } }"""
MARK = """mutation($i: MarkTicketReadInput!) { markTicketRead(input: $i) {
  ticket { id unreadCount lastReadAt } errors { code field } clientMutationId } }"""
LIST = """query($unread: Boolean) { unreadTicketCount
  tickets(filter: {unread: $unread}) { totalCount edges { node { id unreadCount } } } }"""
CHANGES = """subscription { readStateChanged {
  ticket { id unreadCount lastReadAt } unreadTicketCount } }"""


async def reply(api: Api, ticket: dict[str, Any], author: str, role: str, **extra: Any) -> None:
    values = {"ticketId": ticket["id"], "body": f"from {author}", **extra}
    data = await api.gql(REPLY, {"input": values}, as_=author, role=role)
    assert data["replyToTicket"]["errors"] == []


async def read_state(api: Api, ticket: dict[str, Any], who: str, role: str = "customer") -> Any:
    return (await api.gql(READ, {"id": ticket["id"]}, as_=who, role=role))["ticket"]


async def mark(
    api: Api, ticket_id: str, who: str, role: str = "customer", **extra: Any
) -> dict[str, Any]:
    data = await api.gql(MARK, {"i": {"ticketId": ticket_id, **extra}}, as_=who, role=role)
    result: dict[str, Any] = data["markTicketRead"]
    return result


async def events(api: Api, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    data = await api.gql(EVENTS, {"id": ticket["id"]}, as_="admin-1", role="admin")
    found: list[dict[str, Any]] = data["ticket"]["events"]
    return found


async def test_customer_counts_answers_by_others_never_internal_notes(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await reply(api, ticket, "agent-1", "agent")
    await reply(api, ticket, "agent-1", "agent", internal=True)
    await reply(api, ticket, "ann", "customer")
    # A ticket never opened: every answer by someone else is unread, the note never is.
    assert await read_state(api, ticket, "ann") == {"unreadCount": 1, "lastReadAt": None}

    marked = await mark(api, ticket["id"], "ann")
    assert marked["errors"] == []
    assert marked["ticket"]["unreadCount"] == 0
    newest_visible = [e for e in await events(api, ticket) if e["kind"] == "MESSAGE_ADDED"][-1]
    assert marked["ticket"]["lastReadAt"] == newest_visible["at"]

    await reply(api, ticket, "agent-1", "agent", internal=True)
    assert (await read_state(api, ticket, "ann"))["unreadCount"] == 0
    await reply(api, ticket, "agent-2", "agent")
    await reply(api, ticket, "agent-1", "agent")
    assert (await read_state(api, ticket, "ann"))["unreadCount"] == 2


async def test_agents_count_internal_notes_on_tickets_they_have_opened(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await reply(api, ticket, "agent-1", "agent")
    await reply(api, ticket, "agent-1", "agent", internal=True)
    await reply(api, ticket, "ann", "customer")
    # Staff never opened it: nothing is unread for them (the queue is not a wall of badges).
    assert await read_state(api, ticket, "agent-2", "agent") == {
        "unreadCount": 0,
        "lastReadAt": None,
    }
    created = (await events(api, ticket))[0]
    assert created["kind"] == "CREATED"
    marked = await mark(api, ticket["id"], "agent-2", "agent", upToEventId=created["id"])
    # Read up to the creation: the reply, the note and the customer's answer are unread.
    assert marked["ticket"] == {
        "id": ticket["id"],
        "unreadCount": 3,
        "lastReadAt": created["at"],
    }
    # The author's own messages never count for them.
    await mark(api, ticket["id"], "agent-1", "agent", upToEventId=created["id"])
    assert (await read_state(api, ticket, "agent-1", "agent"))["unreadCount"] == 1

    await mark(api, ticket["id"], "agent-2", "agent")
    await reply(api, ticket, "agent-1", "agent", internal=True)
    assert (await read_state(api, ticket, "agent-2", "agent"))["unreadCount"] == 1
    # Per person, not per role: agent-2's mark is not agent-1's.
    assert (await read_state(api, ticket, "agent-1", "agent"))["unreadCount"] == 1


async def test_a_mark_never_moves_backwards(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    await reply(api, ticket, "agent-1", "agent")
    newest = await mark(api, ticket["id"], "ann")
    assert newest["ticket"]["unreadCount"] == 0
    created = (await events(api, ticket))[0]
    again = await mark(api, ticket["id"], "ann", upToEventId=created["id"])
    assert again["errors"] == []
    assert again["ticket"] == newest["ticket"]
    # Marked on a second device with an older event: still read, the same time.
    assert await read_state(api, ticket, "ann") == {
        "unreadCount": 0,
        "lastReadAt": newest["ticket"]["lastReadAt"],
    }


async def test_unread_filter_and_count(api: Api) -> None:
    answered = await create_ticket(api, "ann", question="Answered")
    quiet = await create_ticket(api, "ann", question="Quiet")
    await create_ticket(api, "bob", question="Not ann's")
    await reply(api, answered, "agent-1", "agent")
    await reply(api, quiet, "ann", "customer")

    data = await api.gql(LIST, {"unread": True}, as_="ann")
    assert data["unreadTicketCount"] == 1
    assert [e["node"] for e in data["tickets"]["edges"]] == [
        {"id": answered["id"], "unreadCount": 1}
    ]
    data = await api.gql(LIST, {"unread": False}, as_="ann")
    assert [e["node"]["id"] for e in data["tickets"]["edges"]] == [quiet["id"]]

    await mark(api, answered["id"], "ann")
    data = await api.gql(LIST, {"unread": True}, as_="ann")
    assert data["unreadTicketCount"] == 0 and data["tickets"]["totalCount"] == 0

    # Staff: only the tickets they have opened count.
    data = await api.gql(LIST, {"unread": True}, as_="agent-2", role="agent")
    assert data["unreadTicketCount"] == 0 and data["tickets"]["edges"] == []
    created = (await events(api, quiet))[0]
    await mark(api, quiet["id"], "agent-2", "agent", upToEventId=created["id"])
    data = await api.gql(LIST, {"unread": True}, as_="agent-2", role="agent")
    assert data["unreadTicketCount"] == 1
    assert [e["node"] for e in data["tickets"]["edges"]] == [{"id": quiet["id"], "unreadCount": 1}]
    data = await api.gql(LIST, {"unread": False}, as_="agent-2", role="agent")
    assert data["tickets"]["totalCount"] == 2


async def test_marking_read_refuses_what_the_viewer_may_not_touch(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    other = await create_ticket(api, "bob")
    await reply(api, ticket, "agent-1", "agent", internal=True)
    note_event = (await events(api, ticket))[-1]
    other_event = (await events(api, other))[0]

    def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
        assert result["ticket"] is None
        return [(e["code"], e["field"]) for e in result["errors"]]

    assert codes(await mark(api, other["id"], "ann")) == [("NOT_FOUND", "ticketId")]
    assert codes(await mark(api, "not-an-id", "ann")) == [("NOT_FOUND", "ticketId")]
    assert codes(await mark(api, missing_id("Ticket"), "ann")) == [("NOT_FOUND", "ticketId")]
    # An event of another ticket, an internal note's event for a customer, an id of another type.
    for event_id in (other_event["id"], note_event["id"], ticket["id"]):
        result = await mark(api, ticket["id"], "ann", upToEventId=event_id)
        assert codes(result) == [("NOT_FOUND", "upToEventId")]
    too_long = "k" * (CLIENT_MUTATION_ID_MAX + 1)
    result = await mark(api, ticket["id"], "ann", clientMutationId=too_long)
    assert codes(result) == [("VALIDATION", "clientMutationId")]
    # Nothing was marked by the refusals.
    assert (await read_state(api, ticket, "ann"))["lastReadAt"] is None

    echoed = await mark(api, ticket["id"], "ann", clientMutationId="tab-1")
    assert echoed["clientMutationId"] == "tab-1" and echoed["errors"] == []
    error = await api.error(MARK, {"i": {"ticketId": ticket["id"]}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    error = await api.error("{ unreadTicketCount }")
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_mark_on_one_socket_clears_the_badge_on_the_others(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    mine = await create_ticket(api, "bob")
    await reply(api, ticket, "agent-1", "agent")
    await reply(api, mine, "agent-1", "agent")

    phone = await connect(api.client, {"token": api.token("ann")})
    laptop = await connect(api.client, {"token": api.token("ann")})
    bobs = await connect(api.client, {"token": api.token("bob")})
    watch = await phone.subscribe(CHANGES)
    bob_watch = await bobs.subscribe(CHANGES)
    # The first message is the badge now, sent once this subscriber hears every later mark.
    first = await phone.next_data(watch)
    assert first == {"readStateChanged": {"ticket": None, "unreadTicketCount": 1}}
    assert (await bobs.next_data(bob_watch))["readStateChanged"]["unreadTicketCount"] == 1

    # Marked read on the laptop, over its socket.
    op = await laptop.subscribe(MARK, {"i": {"ticketId": ticket["id"]}})
    done = await laptop.next_data(op)
    assert done["markTicketRead"]["ticket"]["unreadCount"] == 0

    change = (await phone.next_data(watch))["readStateChanged"]
    assert change["unreadTicketCount"] == 0
    assert change["ticket"] == done["markTicketRead"]["ticket"]

    # Bob hears of his own mark only: ann's never reached him.
    await mark(api, mine["id"], "bob")
    change = (await bobs.next_data(bob_watch))["readStateChanged"]
    assert change["ticket"]["id"] == mine["id"] and change["unreadTicketCount"] == 0

    # A mark that moves nothing is no news; the next real one is.
    await mark(api, ticket["id"], "ann")
    await reply(api, ticket, "agent-1", "agent")
    await mark(api, ticket["id"], "ann")
    change = (await phone.next_data(watch))["readStateChanged"]
    assert change["ticket"]["id"] == ticket["id"]
    assert change["ticket"]["lastReadAt"] != done["markTicketRead"]["ticket"]["lastReadAt"]
    for socket in (phone, laptop, bobs):
        await socket.close()


async def test_a_mark_reaches_the_readers_socket_on_another_process(
    backend: Backend, tmp_path: Path
) -> None:
    async with (
        server_processes(backend, tmp_path) as (a, b),
        aiohttp.ClientSession() as session,
    ):
        dora, agent = token("dora"), token("agent-x", "agent")
        values = {"categorySlug": "app-help", "question": "Read on two devices?"}
        created = await post_gql(session, a.graphql, CREATE, {"input": values}, dora)
        ticket = created["createTicket"]["ticket"]
        answer = {"input": {"ticketId": ticket["id"], "body": "Yes"}}
        await post_gql(session, a.graphql, REPLY, answer, agent)

        phone = await connect_url(session, b.graphql, {"token": dora})
        watch = await phone.subscribe(CHANGES)
        first = (await phone.next_data(watch))["readStateChanged"]
        assert first == {"ticket": None, "unreadTicketCount": 1}

        marked = await post_gql(session, a.graphql, MARK, {"i": {"ticketId": ticket["id"]}}, dora)
        change = (await phone.next_data(watch))["readStateChanged"]
        assert change == {
            "ticket": marked["markTicketRead"]["ticket"],
            "unreadTicketCount": 0,
        }
        await phone.close()
