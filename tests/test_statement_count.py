"""A page of N tickets with owner, category and last message: a constant number of statements."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import graphql
import pytest

from resolvers.selection import selected
from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket

PAGE = """
query Page($first: Int!) {
  tickets(first: $first) {
    totalCount
    countsByStatus { status count }
    edges { node {
      number summary status urgent createdAt
      category { slug name parent { slug } }
      owner { id name }
      assignee { sub }
      lastMessage { body author { id name } }
    } }
  }
}"""


@pytest.fixture
async def fifty_tickets(api: Api) -> None:
    for i in range(50):
        owner = "ann" if i % 2 else "bob"
        slug = "metric-billing" if i % 3 else "app-help"
        ticket = await create_ticket(api, owner, categorySlug=slug, question=f"Question {i}")
        author, role = (owner, "customer") if i % 4 else (f"agent-{i % 3}", "agent")
        reply = {"ticketId": ticket["id"], "body": f"reply {i}"}
        data = await api.gql(REPLY, {"input": reply}, as_=author, role=role)
        assert data["replyToTicket"]["errors"] == []


async def statements_for(
    api: Api, count_statements: Any, first: int, **who: Any
) -> tuple[int, int]:
    with count_statements() as counter:
        data = await api.gql(PAGE, {"first": first}, **who)
    edges = data["tickets"]["edges"]
    assert all(e["node"]["lastMessage"] is not None for e in edges)
    return len(edges), len(counter.statements)


@pytest.mark.usefixtures("fifty_tickets")
async def test_statement_count_does_not_grow_with_the_page(api: Api, count_statements: Any) -> None:
    # Users are known after the first request; warm that up so only the query itself counts.
    await api.gql("{ me { id } }", as_="agent-9", role="agent")
    await api.gql("{ me { id } }", as_="ann")
    rows_5, agent_5 = await statements_for(api, count_statements, 5, as_="agent-9", role="agent")
    rows_50, agent_50 = await statements_for(api, count_statements, 50, as_="agent-9", role="agent")
    assert (rows_5, rows_50) == (5, 50)
    assert agent_5 == agent_50
    # tickets, counts, categories, owners, last messages (newest-id subquery inside), authors
    assert agent_50 <= 6

    rows_5, customer_5 = await statements_for(api, count_statements, 5, as_="ann")
    rows_25, customer_25 = await statements_for(api, count_statements, 50, as_="ann")
    assert (rows_5, rows_25) == (5, 25)
    assert customer_5 == customer_25 <= 6


def test_selected_sees_through_fragments() -> None:
    """What a page reads ahead follows fields chosen inside named and inline fragments too."""
    document = graphql.parse(
        """{ tickets(first: 5) { ...Rows } }
        fragment Rows on TicketConnection {
          edges { node { ... on Ticket { number owner { sub } } ...People } }
        }
        fragment People on Ticket { assignee { sub } }"""
    )
    operation, *fragments = document.definitions
    raw = SimpleNamespace(
        field_nodes=[operation.selection_set.selections[0]],  # type: ignore[attr-defined]
        fragments={f.name.value: f for f in fragments},  # type: ignore[attr-defined]
    )
    info = SimpleNamespace(_raw_info=raw)
    assert selected(info, "edges", "node") == {"number", "owner", "assignee"}
    assert selected(info, "edges") == {"node"}
    assert selected(info, "pageInfo") == set()


READ_PAGE = PAGE.replace("lastMessage {", "unreadCount lastReadAt lastMessage {")


@pytest.mark.usefixtures("fifty_tickets")
async def test_unread_counts_cost_one_statement_per_page(api: Api, count_statements: Any) -> None:
    await api.gql("{ me { id } }", as_="agent-9", role="agent")
    await api.gql("{ me { id } }", as_="ann")
    for who in ({"as_": "agent-9", "role": "agent"}, {"as_": "ann"}):
        costs = {}
        for query in (PAGE, READ_PAGE):
            for first in (5, 50):
                with count_statements() as counter:
                    data = await api.gql(query, {"first": first}, **who)
                assert data["tickets"]["edges"]
                costs[query, first] = len(counter.statements)
        assert costs[READ_PAGE, 5] == costs[READ_PAGE, 50] == costs[PAGE, 50] + 1, costs
