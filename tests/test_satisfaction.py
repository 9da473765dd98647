"""Customer satisfaction through the API: the owner rates a CLOSED ticket within the rating
window (typed errors otherwise), rating again replaces, a RATED event, idempotency, and the
staff-only satisfactionStats."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import create_ticket
from tests.workflow import STATUS, TAKE

OWNER, OTHER, AGENT = "ann", "bob", "agent-1"

RATE = """
mutation Rate($input: RateTicketInput!) {
  rateTicket(input: $input) {
    ticket { id version satisfaction { id score comment } }
    satisfaction { id score comment ratedAt }
    errors { code field message }
    clientMutationId
  }
}"""
RATING = """
query Rating($id: ID!) {
  ticket(id: $id) {
    version satisfaction { id score comment ratedAt }
    events { kind score actor { sub } }
  }
}"""
STATS = """
query Stats($filter: SatisfactionFilter) {
  satisfactionStats(filter: $filter) { count average byScore { score count } }
}"""


async def closed_ticket(api: Api, as_: str = OWNER, **fields: Any) -> dict[str, Any]:
    """A ticket the agent took and closed; returns it as the close answered."""
    ticket = await create_ticket(api, as_, **fields)
    await api.gql(TAKE, {"input": {"ticketId": ticket["id"]}}, as_=AGENT, role="agent")
    data = await api.gql(
        STATUS, {"input": {"ticketId": ticket["id"], "status": "CLOSED"}}, as_=AGENT, role="agent"
    )
    closed: dict[str, Any] = data["changeTicketStatus"]["ticket"]
    assert closed["status"] == "CLOSED"
    return closed


async def rate(api: Api, ticket_id: str, score: int, as_: str = OWNER, **extra: Any) -> Any:
    data = await api.gql(RATE, {"input": {"ticketId": ticket_id, "score": score, **extra}}, as_=as_)
    return data["rateTicket"]


async def test_the_owner_rates_a_closed_ticket_and_staff_see_it(api: Api) -> None:
    ticket = await closed_ticket(api)
    payload = await rate(api, ticket["id"], 5, comment="  Fast and kind  ")

    assert payload["errors"] == []
    assert payload["satisfaction"]["score"] == 5
    assert payload["satisfaction"]["comment"] == "Fast and kind"
    assert payload["ticket"]["version"] == ticket["version"] + 1
    for viewer, role in ((OWNER, "customer"), (AGENT, "agent")):
        seen = (await api.gql(RATING, {"id": ticket["id"]}, as_=viewer, role=role))["ticket"]
        assert seen["satisfaction"] == payload["satisfaction"]
        assert seen["events"][-1] == {"kind": "RATED", "score": 5, "actor": {"sub": OWNER}}


async def test_rating_again_within_the_window_replaces_the_score(api: Api) -> None:
    ticket = await closed_ticket(api)
    first = await rate(api, ticket["id"], 2, comment="slow")
    again = await rate(api, ticket["id"], 4)

    assert again["errors"] == []
    assert again["satisfaction"]["id"] == first["satisfaction"]["id"]
    assert (again["satisfaction"]["score"], again["satisfaction"]["comment"]) == (4, None)
    stats = await api.gql(STATS, as_=AGENT, role="agent")
    assert stats["satisfactionStats"]["count"] == 1
    assert stats["satisfactionStats"]["average"] == 4.0


async def test_after_the_rating_window_rating_is_closed(api: Api, clock: Any) -> None:
    ticket = await closed_ticket(api)
    closed_at = datetime.fromisoformat(ticket["closedAt"])

    clock.set(closed_at + timedelta(days=7))
    assert (await rate(api, ticket["id"], 3))["errors"] == []
    clock.set(closed_at + timedelta(days=7, seconds=1))
    late = await rate(api, ticket["id"], 1)

    assert late["errors"] == [
        {"code": "RATING_CLOSED", "field": "ticketId", "message": late["errors"][0]["message"]}
    ]
    assert "7 days" in late["errors"][0]["message"]
    seen = (await api.gql(RATING, {"id": ticket["id"]}, as_=OWNER))["ticket"]
    assert seen["satisfaction"]["score"] == 3


@pytest.mark.parametrize("status", ["OPEN", "IN_PROGRESS", "AWAITING_REPLY", "REJECTED"])
async def test_only_closed_tickets_are_rated(api: Api, status: str) -> None:
    ticket = await create_ticket(api, OWNER)
    if status != "OPEN":
        await api.gql(TAKE, {"input": {"ticketId": ticket["id"]}}, as_=AGENT, role="agent")
    if status not in ("OPEN", "IN_PROGRESS"):
        change = {"ticketId": ticket["id"], "status": status, "reason": "duplicate"}
        await api.gql(STATUS, {"input": change}, as_=AGENT, role="agent")

    payload = await rate(api, ticket["id"], 5)

    assert [e["code"] for e in payload["errors"]] == ["INVALID_TRANSITION"]
    assert payload["ticket"] is None
    seen = (await api.gql(RATING, {"id": ticket["id"]}, as_=OWNER))["ticket"]
    assert seen["satisfaction"] is None


async def test_only_the_owner_rates(api: Api) -> None:
    ticket = await closed_ticket(api)

    other = await rate(api, ticket["id"], 5, as_=OTHER)
    error = await api.error(
        RATE, {"input": {"ticketId": ticket["id"], "score": 5}}, as_=AGENT, role="agent"
    )

    assert [e["code"] for e in other["errors"]] == ["NOT_FOUND"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    seen = (await api.gql(RATING, {"id": ticket["id"]}, as_=OWNER))["ticket"]
    assert (seen["satisfaction"], seen["version"]) == (None, ticket["version"])


@pytest.mark.parametrize("score", [0, 6, -1, 2**31 - 1])
async def test_score_is_one_to_five(api: Api, score: int) -> None:
    ticket = await closed_ticket(api)
    payload = await rate(api, ticket["id"], score)
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", "score")]


async def test_a_repeated_client_mutation_id_rates_once(api: Api) -> None:
    ticket = await closed_ticket(api)
    first = await rate(api, ticket["id"], 4, clientMutationId="rate-1")
    again = await rate(api, ticket["id"], 4, clientMutationId="rate-1")
    other = await rate(api, ticket["id"], 2, clientMutationId="rate-1")

    assert again["satisfaction"] == first["satisfaction"]
    assert again["clientMutationId"] == "rate-1"
    assert [e["code"] for e in other["errors"]] == ["VALIDATION"]
    seen = (await api.gql(RATING, {"id": ticket["id"]}, as_=OWNER))["ticket"]
    assert [e["kind"] for e in seen["events"]].count("RATED") == 1


async def test_satisfaction_stats_by_category_and_period(api: Api, clock: Any) -> None:
    start = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
    clock.set(start)
    scores = [("app-help", 5), ("app-help", 3), ("metric-billing", 1)]
    for slug, score in scores:
        ticket = await closed_ticket(api, categorySlug=slug)
        await rate(api, ticket["id"], score)
        clock.advance(timedelta(days=1))

    async def stats(**filter: Any) -> dict[str, Any]:
        data = await api.gql(STATS, {"filter": filter}, as_=AGENT, role="agent")
        return dict(data["satisfactionStats"])

    everything = await stats()
    assert (everything["count"], everything["average"]) == (3, 3.0)
    assert everything["byScore"] == [
        {"score": s, "count": 1 if s in (1, 3, 5) else 0} for s in range(1, 6)
    ]
    assert (await stats(categorySlug="app-help"))["average"] == 4.0
    assert (await stats(categorySlug="documents-finance"))["count"] == 1
    first_day = await stats(to=(start + timedelta(days=1)).isoformat())
    assert (first_day["count"], first_day["average"]) == (1, 5.0)
    later = await stats(**{"from": (start + timedelta(days=1)).isoformat()})
    assert later["count"] == 2
    nothing = await stats(categorySlug="system-errors")
    assert (nothing["count"], nothing["average"]) == (0, None)


@pytest.mark.parametrize(
    ("filter", "code", "message"),
    [
        ({"categorySlug": "nope"}, "UNKNOWN_CATEGORY", "Unknown category 'nope'."),
        (
            {"from": "2026-03-02T00:00:00+00:00", "to": "2026-03-01T00:00:00+00:00"},
            "VALIDATION",
            "from must be earlier than to.",
        ),
    ],
)
async def test_satisfaction_stats_refuse_a_bad_filter(
    api: Api, filter: dict[str, str], code: str, message: str
) -> None:
    error = await api.error(STATS, {"filter": filter}, as_=AGENT, role="agent")
    assert (error["extensions"]["code"], error["message"]) == (code, message)


async def test_satisfaction_stats_are_for_staff(api: Api) -> None:
    error = await api.error(STATS, as_=OWNER)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_a_rating_is_a_node_as_visible_as_its_ticket(api: Api) -> None:
    ticket = await closed_ticket(api)
    rating = (await rate(api, ticket["id"], 4))["satisfaction"]
    query = "query($id: ID!) { node(id: $id) { ... on SatisfactionRating { id score } } }"

    for viewer, role in ((OWNER, "customer"), (AGENT, "agent")):
        found = (await api.gql(query, {"id": rating["id"]}, as_=viewer, role=role))["node"]
        assert found == {"id": rating["id"], "score": 4}
    assert (await api.gql(query, {"id": rating["id"]}, as_=OTHER))["node"] is None
