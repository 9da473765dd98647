"""Global object identification (Relay): every object's id is global and opaque, `node` and
`nodes` refetch any object by it with the visibility of every other read, and every ID argument
takes it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from strawberry.relay import GlobalID

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket, missing_id, row_key
from tests.test_attachments import png, uploaded
from tests.ws import connect

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Message { body internal } ... on User { sub } } }"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
TAKE = "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }"
RECATEGORIZE = """mutation($i: RecategorizeTicketInput!) {
  recategorizeTicket(input: $i) { request { id } errors { code } } }"""
OBJECTS = """query($id: ID!) { me { id sub } ticket(id: $id) {
  id category { id } owner { id } assignee { id } attachments { id url }
  pendingRecategorization { id }
  messages { id internal author { id } }
  events { id kind message { id } } } }"""

VIEWERS = {
    "owner": ("ann", "customer"),
    "other": ("bob", "customer"),
    "agent": ("agent-2", "agent"),
    "admin": ("admin-1", "admin"),
}


@dataclass
class World:
    ids: dict[str, str]  # what each id is → the id, as responses gave it

    def __getitem__(self, name: str) -> str:
        return self.ids[name]


@pytest.fixture
async def world(api: Api) -> World:
    """Ann's ticket with a file, taken by agent-1, a public reply and an internal note, and a
    pending recategorization request by Ann."""
    shot = await uploaded(api, "ann", png())
    ticket = await create_ticket(api, "ann", attachmentIds=[shot["id"]])
    tid = ticket["id"]
    await api.gql(TAKE, {"i": {"ticketId": tid}}, as_="agent-1", role="agent")
    for body, internal in (("Public answer", False), ("Internal note", True)):
        data = await api.gql(
            REPLY,
            {"input": {"ticketId": tid, "body": body, "internal": internal}},
            as_="agent-1",
            role="agent",
        )
        assert data["replyToTicket"]["errors"] == []
    values = {"ticketId": tid, "categorySlug": "system-errors"}
    data = await api.gql(RECATEGORIZE, {"i": values}, as_="ann")
    assert data["recategorizeTicket"]["errors"] == []
    for sub, role in VIEWERS.values():
        await api.gql("{ me { id } }", as_=sub, role=role)
    seen = (await api.gql(OBJECTS, {"id": tid}, as_="admin-1", role="admin"))["ticket"]
    public, note = seen["messages"]
    events = {e["kind"]: e for e in seen["events"]}
    note_event = next(e for e in seen["events"] if e["message"] == {"id": note["id"]})
    ann = await api.gql("{ me { id } }", as_="ann")
    return World(
        {
            "ticket": tid,
            "category": seen["category"]["id"],
            "attachment": seen["attachments"][0]["id"],
            "request": seen["pendingRecategorization"]["id"],
            "message": public["id"],
            "note": note["id"],
            "created event": events["CREATED"]["id"],
            "note event": note_event["id"],
            "owner": ann["me"]["id"],
            "assignee": seen["assignee"]["id"],
        }
    )


STAFF = {"agent", "admin"}
# Which viewers may refetch each object: the same as they may read it anywhere else.
VISIBLE = {
    "ticket": {"owner", *STAFF},
    "message": {"owner", *STAFF},
    "note": STAFF,
    "created event": {"owner", *STAFF},
    "note event": STAFF,
    "request": {"owner", *STAFF},
    "attachment": {"owner", *STAFF},
    "category": {"owner", "other", *STAFF},
    "owner": {"owner", *STAFF},  # a customer looks up only themselves by id
    "assignee": STAFF,
}
TYPENAMES = {
    "ticket": "Ticket",
    "message": "Message",
    "note": "Message",
    "created event": "TicketEvent",
    "note event": "TicketEvent",
    "request": "RecategorizationRequest",
    "attachment": "Attachment",
    "category": "Category",
    "owner": "User",
    "assignee": "User",
}


@pytest.mark.parametrize("viewer", list(VIEWERS))
async def test_node_refetches_what_the_viewer_may_see_and_nothing_else(
    api: Api, world: World, viewer: str
) -> None:
    sub, role = VIEWERS[viewer]
    for name, typename in TYPENAMES.items():
        data = await api.gql(NODE, {"id": world[name]}, as_=sub, role=role)
        if viewer in VISIBLE[name]:
            assert data["node"] is not None, (name, viewer)
            assert (data["node"]["__typename"], data["node"]["id"]) == (typename, world[name])
        else:
            assert data["node"] is None, (name, viewer)


async def test_nodes_answers_in_order_with_null_for_what_names_nothing(
    api: Api, world: World
) -> None:
    names = list(TYPENAMES)
    ids = [world[n] for n in names]
    hostile = [missing_id("Ticket"), "not an id", "", world["ticket"][:-2], str(row_key(ids[0]))]
    data = await api.gql(NODES, {"ids": [*ids, *hostile, ids[0]]}, as_="ann")
    answers = data["nodes"]
    assert len(answers) == len(ids) + len(hostile) + 1
    for name, answer in zip(names, answers, strict=False):
        if "owner" in VISIBLE[name]:
            assert answer == {"__typename": TYPENAMES[name], "id": world[name]}, name
        else:
            assert answer is None, name
    assert answers[len(ids) : -1] == [None] * len(hostile)
    assert answers[-1] == answers[0]  # the same id twice: the same object twice


async def test_the_internal_note_stays_hidden_from_its_ticket_owner(api: Api, world: World) -> None:
    as_owner = await api.gql(NODES, {"ids": [world["note"], world["note event"]]}, as_="ann")
    assert as_owner["nodes"] == [None, None]
    as_agent = await api.gql(NODE, {"id": world["note"]}, as_="agent-2", role="agent")
    assert as_agent["node"]["internal"] is True and as_agent["node"]["body"] == "Internal note"


async def test_node_needs_a_viewer(api: Api, world: World) -> None:
    error = await api.error(NODE, {"id": world["category"]})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_ids_are_global_opaque_and_carry_their_type(api: Api, world: World) -> None:
    ids = list(world.ids.values())
    assert len(set(ids)) == len(ids)
    # The Relay convention, as Strawberry's own GlobalID reads it: the type is recoverable.
    for name, typename in TYPENAMES.items():
        assert GlobalID.from_id(world[name]).type_name == typename
    me = await api.gql("{ me { id sub } }", as_="ann")
    assert me["me"]["sub"] == "ann" and me["me"]["id"] == world["owner"] != "ann"


HOSTILE = [
    "x" * 100_000,
    "€uro",
    "!!!!",
    "VGlja2V0OjE",  # padding missing
    base64.b64encode(b"Ticket:99999999999999999999").decode(),  # beyond BIGINT
    base64.b64encode(b"Ticket:-1").decode(),
    base64.b64encode(b"Ticket:01").decode(),  # a second spelling of ticket 1
    base64.b64encode(b"Ticket:").decode(),
    base64.b64encode(b"Nothing:1").decode(),  # no such type
    base64.b64encode(b"\xff\xfe:1").decode(),
    base64.b64encode(b"User:" + b"u" * 129).decode(),  # longer than any user id
    base64.b64encode(b"User:u\x00").decode(),
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_ids_name_nothing(api: Api, world: World, value: str) -> None:
    data = await api.gql(
        "query($id: ID!) { node(id: $id) { id } ticket(id: $id) { id } }",
        {"id": value},
        as_="admin-1",
        role="admin",
    )
    assert data == {"node": None, "ticket": None}
    reply = await api.gql(REPLY, {"input": {"ticketId": value, "body": "hi"}}, as_="ann")
    assert [e["code"] for e in reply["replyToTicket"]["errors"]] == ["NOT_FOUND"]


async def test_an_id_of_another_type_names_nothing(api: Api, world: World) -> None:
    """A message's id where a ticket's belongs is an unknown ticket, everywhere."""
    message = world["message"]
    data = await api.gql(
        "query($id: ID!) { ticket(id: $id) { id } "
        "ticketEvents(ticketId: $id) { edges { cursor } } }",
        {"id": message},
        as_="admin-1",
        role="admin",
    )
    assert data == {"ticket": None, "ticketEvents": {"edges": []}}
    take = await api.gql(TAKE, {"i": {"ticketId": message}}, as_="agent-2", role="agent")
    assert take["takeTicket"]["errors"] == [{"code": "NOT_FOUND"}]
    reply = await api.gql(REPLY, {"input": {"ticketId": message, "body": "hi"}}, as_="ann")
    assert [(e["code"], e["field"]) for e in reply["replyToTicket"]["errors"]] == [
        ("NOT_FOUND", "ticketId")
    ]
    attach = {"ticketId": world["ticket"], "body": "hi", "attachmentIds": [world["ticket"]]}
    reply = await api.gql(REPLY, {"input": attach}, as_="ann")
    assert [(e["code"], e["field"]) for e in reply["replyToTicket"]["errors"]] == [
        ("NOT_FOUND", "attachmentIds")
    ]
    socket = await connect(api.client, {"token": api.token("admin-1", "admin")})
    op = await socket.subscribe(
        "subscription($t: ID) { ticketEvents(ticketId: $t) { id } }", {"t": message}
    )
    received = await socket.receive()
    assert received["id"] == op
    errors = received["payload"] if received["type"] == "error" else received["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND", received
    await socket.close()


async def test_nodes_takes_at_most_a_hundred_ids(api: Api, world: World) -> None:
    data = await api.gql(NODES, {"ids": [world["category"]] * 100}, as_="ann")
    assert len(data["nodes"]) == 100
    error = await api.error(NODES, {"ids": [world["category"]] * 101}, as_="ann")
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["extensions"]["max"] == 100


async def test_nodes_reads_each_type_in_one_statement(
    api: Api, world: World, count_statements: Any
) -> None:
    tickets = [world["ticket"], *[(await create_ticket(api, "ann"))["id"] for _ in range(4)]]
    shots = [(await uploaded(api, "ann", png()))["id"] for _ in range(3)]
    await create_ticket(api, "ann", attachmentIds=shots)  # linked: visible to staff
    few = [world["ticket"], world["message"], world["attachment"], world["created event"]]
    many = [*tickets, world["message"], world["note"], world["attachment"], *shots]
    many += [world["created event"], world["note event"], world["request"], world["owner"]]
    counts = []
    for ids in ([*few, world["request"], world["owner"]], many):
        with count_statements() as counter:
            data = await api.gql(NODES, {"ids": ids}, as_="agent-2", role="agent")
        assert None not in data["nodes"]
        counts.append(len(counter.statements))
    # One per type (tickets, messages, attachments, events, requests, users), whatever the count.
    assert counts[0] == counts[1] <= 6


EVENTS = """query($after: String) {
  ticketEvents(after: $after, first: 100) { edges { cursor node { id kind } } } }"""


async def test_after_takes_an_event_id_and_a_legacy_event_number(api: Api, world: World) -> None:
    everything = await api.gql(EVENTS, {}, as_="admin-1", role="admin")
    edges = everything["ticketEvents"]["edges"]
    ids = [e["node"]["id"] for e in edges]
    assert [e["cursor"] for e in edges] == ids  # an event's cursor is its id
    middle = ids[2]
    by_id = await api.gql(EVENTS, {"after": middle}, as_="admin-1", role="admin")
    legacy = await api.gql(EVENTS, {"after": str(row_key(middle))}, as_="admin-1", role="admin")
    assert [e["node"]["id"] for e in by_id["ticketEvents"]["edges"]] == ids[3:]
    assert legacy == by_id
    from_zero = await api.gql(EVENTS, {"after": "0"}, as_="admin-1", role="admin")
    assert [e["node"]["id"] for e in from_zero["ticketEvents"]["edges"]] == ids
    for cursor in (world["ticket"], "-1", "abc"):
        error = await api.error(EVENTS, {"after": cursor}, as_="admin-1", role="admin")
        assert error["extensions"]["code"] == "VALIDATION", cursor


async def test_a_subscription_replays_after_an_event_id(api: Api, world: World) -> None:
    everything = await api.gql(EVENTS, {}, as_="ann")
    ids = [e["node"]["id"] for e in everything["ticketEvents"]["edges"]]
    socket = await connect(api.client, {"token": api.token("ann")})
    op = await socket.subscribe(
        "subscription($a: String) { ticketEvents(after: $a) { id } }", {"a": ids[0]}
    )
    replayed = [(await socket.next_data(op))["ticketEvents"]["id"] for _ in ids[1:]]
    assert replayed == ids[1:]
    await socket.nothing_within(0.3)
    await socket.close()


async def test_a_download_url_uses_the_attachments_id(api: Api, world: World) -> None:
    data = await api.gql(OBJECTS, {"id": world["ticket"]}, as_="ann")
    [attachment] = data["ticket"]["attachments"]
    response = await api.client.get(
        attachment["url"], headers={"Authorization": f"Bearer {api.token('ann')}"}
    )
    assert response.status == 200
    response = await api.client.get(
        attachment["url"], headers={"Authorization": f"Bearer {api.token('bob')}"}
    )
    assert response.status == 404
