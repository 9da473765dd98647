"""Demo data (`services.demo.seed_demo`): consistent with the rules, numbered, searchable."""

from __future__ import annotations

from collections import Counter as Tally
from datetime import UTC, datetime, timedelta

from models import Category, Counter, EventKind, Role, Ticket, TicketEvent, TicketStatus, User
from server.demo import CATEGORY_WEIGHTS, agent_id, customer_id, seed_demo
from services.validation import search_key
from tests.conftest import Api
from tests.fixtures import TICKETS, create_ticket, row_key

S = TicketStatus


async def test_seeded_tickets_follow_the_rules(api: Api) -> None:
    before = await create_ticket(api, "ann")
    assert before["number"] == 1

    started = datetime.now(UTC)
    assert await seed_demo(tickets=300, customers=20, agents=4, seed=7) == 300

    tickets = await Ticket.exclude(id=row_key(before["id"])).order_by("number")
    assert len(tickets) == 300
    assert [t.number for t in tickets] == list(range(2, 302))
    assert (await Counter.get(name="ticket_number")).value == 301
    # Numbers follow creation time, as if the tickets had been created one by one.
    created = [t.created_at for t in tickets]
    assert created == sorted(created)
    assert started - timedelta(days=731) <= created[0] and created[-1] <= datetime.now(UTC)

    customers = {customer_id(i) for i in range(20)}
    agents = {agent_id(i) for i in range(4)}
    roles = dict(await User.filter(id__in=[*customers, *agents]).values_list("id", "role"))
    assert roles == {**dict.fromkeys(customers, Role.CUSTOMER), **dict.fromkeys(agents, Role.AGENT)}

    leaves = dict(await Category.filter(slug__in=list(CATEGORY_WEIGHTS)).values_list("id", "slug"))
    assert {leaves[t.category_id] for t in tickets} == set(CATEGORY_WEIGHTS)

    for t in tickets:
        assert t.owner_id in customers
        assert t.search_text == search_key(t.summary, t.question)
        assert t.summary and len(t.summary) <= 200 and t.question.startswith(t.summary)
        assert t.updated_at >= t.created_at
        if t.status in (S.IN_PROGRESS, S.AWAITING_REPLY):
            assert t.assignee_id in agents, t.number
        if t.status is S.OPEN:
            assert t.assignee_id is None and t.version == 1, t.number
        if t.status in (S.CLOSED, S.REJECTED):
            assert t.closed_at is not None and t.closed_at >= t.created_at, t.number
            assert t.assignee_id is None or t.assignee_id in agents
        else:
            assert t.closed_at is None, t.number
        assert (t.rejection_reason is not None) == (t.status is S.REJECTED), t.number

    statuses = Tally(t.status for t in tickets)
    assert statuses[S.CLOSED] > 150
    assert statuses[S.REJECTED] > 0
    assert 5 <= sum(t.urgent for t in tickets) <= 70
    assert len({t.owner_id for t in tickets}) > 5

    by_ticket = {t.id: t for t in tickets}
    seeded_events = await TicketEvent.filter(ticket_id__in=list(by_ticket)).order_by("id")
    assert len(seeded_events) == 300
    assert Tally(e.ticket_id for e in seeded_events) == dict.fromkeys(by_ticket, 1)
    for event in seeded_events:
        ticket = by_ticket[event.ticket_id]
        assert event.kind is EventKind.CREATED
        assert event.actor_id == ticket.owner_id
        assert event.at == ticket.created_at
        assert event.to_status is S.OPEN
        assert event.to_category_id == ticket.category_id
    # Event ids follow the tickets' order, as created one by one.
    assert [e.ticket_id for e in seeded_events] == [t.id for t in tickets]


async def test_search_finds_seeded_tickets_by_a_cyrillic_word_in_any_case(api: Api) -> None:
    await seed_demo(tickets=300, customers=10, agents=3, seed=1)
    word = "ошибка"
    expected = {t.number for t in await Ticket.all() if word in t.search_text}
    assert expected, "the phrase bank should produce this word"

    for spelling in ("ОШИБКА", "Ошибка", "ошибка", "оШиБкА"):
        data = await api.gql(
            TICKETS, {"filter": {"search": spelling}, "first": 100}, as_=agent_id(0), role="agent"
        )
        assert data["tickets"]["totalCount"] == len(expected), spelling
        found = {edge["node"]["number"] for edge in data["tickets"]["edges"]}
        assert found <= expected and len(found) == min(100, len(expected))

    owner = customer_id(0)
    own = {t.number for t in await Ticket.filter(owner_id=owner) if word in t.search_text}
    data = await api.gql(TICKETS, {"filter": {"search": "ОШИБКА"}, "first": 100}, as_=owner)
    assert {edge["node"]["number"] for edge in data["tickets"]["edges"]} == own


async def test_a_ticket_created_after_seeding_takes_the_next_number(api: Api) -> None:
    assert await seed_demo(tickets=40, customers=5, agents=2) == 40
    # Seeding again reuses the demo users and continues the numbers.
    assert await seed_demo(tickets=25, customers=5, agents=2, seed=3) == 25
    assert await User.filter(id__startswith="demo-").count() == 7

    ticket = await create_ticket(api, customer_id(1), question="Где найти акт сверки?")
    assert ticket["number"] == 66
    assert (await Counter.get(name="ticket_number")).value == 66
    numbers = await Ticket.all().order_by("number").values_list("number", flat=True)
    assert numbers == list(range(1, 67))
