"""`models.rows.fetch` reads exactly the instances `await query` reads, on every backend."""

from __future__ import annotations

from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from models import tables
from models.rows import fetch
from tests.conftest import Api
from tests.fixtures import create_ticket, given_status

REPLY = """mutation($id: ID!) { replyToTicket(input: {ticketId: $id, body: "Try again"}) {
  errors { code } } }"""

MODELS = [
    value
    for value in vars(tables).values()
    if isinstance(value, type) and issubclass(value, Model) and not value._meta.abstract
]


def _state(rows: list[Any]) -> list[tuple[type, str]]:
    """Each instance's class and fields, in a form that also tells time zones apart."""
    return [(type(row), repr(sorted(vars(row).items()))) for row in rows]


async def test_fetch_reads_what_the_orm_reads(api: Api) -> None:
    first = await create_ticket(api, "ann", urgent=True)
    await create_ticket(api, "bob", categorySlug="metric-billing")
    await given_status(first["id"], "IN_PROGRESS", assignee="agent-1")
    await api.gql(REPLY, {"id": first["id"]}, as_="agent-1", role="agent")
    checked = 0
    for model in MODELS:
        rows = await model.all().order_by(model._meta.pk_attr)
        assert _state(await fetch(model.all().order_by(model._meta.pk_attr))) == _state(rows), model
        checked += bool(rows)
    assert checked >= 5  # users, categories, tickets, messages, events at least
    page = tables.Ticket.filter(owner_id="ann", urgent=True).order_by("-created_at").limit(1)
    fetched = await fetch(page)
    assert [t.number for t in fetched] == [first["number"]]
    assert fetched[0].created_at.tzinfo is not None and fetched[0].status.value == "IN_PROGRESS"
    async with in_transaction():  # the transaction's own connection, like `await`
        await tables.Ticket.filter(owner_id="ann").update(summary="Changed")
        assert [t.summary for t in await fetch(tables.Ticket.filter(owner_id="ann"))] == ["Changed"]


async def test_queries_beyond_a_plain_select_are_awaited_as_usual(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    related = await fetch(tables.Ticket.filter(number=ticket["number"]).select_related("owner"))
    assert related[0].owner.id == "ann"
    only = await fetch(tables.Ticket.all().only("id", "number"))
    assert [t.number for t in only] == [ticket["number"]]
