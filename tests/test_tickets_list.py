"""The ticket history: every filter, ordering, cursor pagination both ways, totals, ownership."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import (
    TICKET,
    TICKETS,
    create_ticket,
    given_created_at,
    given_status,
    numbers,
    row_key,
)


async def listing(api: Api, as_: str = "ann", role: str = "customer", **variables: Any) -> dict:
    return (await api.gql(TICKETS, variables, as_=as_, role=role))["tickets"]


@pytest.fixture
async def history(api: Api) -> dict[int, dict[str, Any]]:
    """Ann's five tickets and one of Bob's, with varied category, urgency, status and dates."""
    specs = [
        ("ann", {"categorySlug": "app-help", "question": "Как создать новую кампанию?"}),
        (
            "ann",
            {"categorySlug": "system-errors", "question": "Система не грузится", "urgent": True},
        ),
        ("ann", {"categorySlug": "metric-billing", "question": "Billing for METRIC clicks"}),
        ("ann", {"categorySlug": "other", "question": "Invoice 100% wrong_total"}),
        ("ann", {"categorySlug": "app-help", "question": "Сценарий: настроить?", "urgent": True}),
        ("bob", {"categorySlug": "app-help", "question": "Bob's campaign question"}),
    ]
    created = {}
    for day, (who, fields) in enumerate(specs, start=1):
        ticket = await create_ticket(api, who, **fields)
        await given_created_at(ticket["id"], f"2026-03-0{day}T10:00:00+00:00")
        created[ticket["number"]] = ticket
    await given_status(created[2]["id"], "IN_PROGRESS", assignee="agent-1")
    await given_status(created[3]["id"], "CLOSED")
    await given_status(created[6]["id"], "IN_PROGRESS", assignee="agent-2")
    return created


async def test_customer_sees_only_own_tickets_newest_first(api: Api, history: dict) -> None:
    assert await numbers(api, "ann") == [5, 4, 3, 2, 1]
    assert await numbers(api, "bob") == [6]
    assert await numbers(api, "carol") == []


async def test_agents_see_every_ticket(api: Api, history: dict) -> None:
    assert await numbers(api, "agent-1", "agent") == [6, 5, 4, 3, 2, 1]
    assert await numbers(api, "boss", "admin") == [6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"status": ["OPEN"]}, [5, 4, 1]),
        ({"status": ["IN_PROGRESS", "CLOSED"]}, [3, 2]),
        ({"categorySlug": "documents-finance"}, [4, 3]),
        ({"categorySlug": "metric-billing"}, [3]),
        ({"categorySlug": "app-help"}, [5, 1]),
        ({"urgent": True}, [5, 2]),
        ({"urgent": False}, [4, 3, 1]),
        ({"createdAfter": "2026-03-02T10:00:00+00:00"}, [5, 4, 3, 2]),
        ({"createdBefore": "2026-03-02T10:00:00+00:00"}, [1]),
        (
            {"createdAfter": "2026-03-02T00:00:00+00:00", "createdBefore": "2026-03-04T00:00:00Z"},
            [3, 2],
        ),
        ({"search": "кампанию"}, [1]),
        ({"search": "КАМПАНИЮ"}, [1]),
        ({"search": "система"}, [2]),
        ({"search": "metric"}, [3]),
        ({"search": "Billing clicks"}, [3]),
        ({"search": "billing invoice"}, []),
        ({"search": "100%"}, [4]),
        ({"search": "wrong_total"}, [4]),
        ({"search": "%"}, [4]),
        ({"search": "_"}, [4]),
        ({"search": "   "}, [5, 4, 3, 2, 1]),
        ({"urgent": True, "categorySlug": "app-help", "status": ["OPEN"]}, [5]),
        ({"ownerId": "bob"}, []),
        ({"ownerId": "ann"}, [5, 4, 3, 2, 1]),
        ({"assignedToMe": True}, []),
    ],
)
async def test_customer_filters(api: Api, history: dict, filter: dict, expected: list[int]) -> None:
    assert await numbers(api, "ann", filter=_by_id(history, filter)) == expected


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"ownerId": "bob"}, [6]),
        ({"ownerId": "ann", "status": ["OPEN"]}, [5, 4, 1]),
        ({"ownerId": "a ticket's id"}, []),  # an id of another type names no user
        ({"ownerId": "ann-not-an-id"}, []),
        ({"assignedToMe": True}, [2]),
        ({"assignedToMe": False}, [6, 5, 4, 3, 1]),
        ({"search": "campaign"}, [6]),
    ],
)
async def test_agent_filters(api: Api, history: dict, filter: dict, expected: list[int]) -> None:
    assert await numbers(api, "agent-1", "agent", filter=_by_id(history, filter)) == expected


def _by_id(history: dict[int, dict[str, Any]], filter: dict[str, Any]) -> dict[str, Any]:
    """The filter with `ownerId` given as a name replaced by that user's id from a response."""
    ids = {t["owner"]["sub"]: t["owner"]["id"] for t in history.values()}
    ids["a ticket's id"] = history[1]["id"]
    if "ownerId" not in filter:
        return filter
    return {**filter, "ownerId": ids.get(filter["ownerId"], filter["ownerId"])}


async def test_counts_cover_the_whole_filter_not_the_page(api: Api, history: dict) -> None:
    result = await listing(api, first=1, filter={"status": ["OPEN", "IN_PROGRESS"]})
    assert len(result["edges"]) == 1
    assert result["totalCount"] == 4
    counts = {c["status"]: c["count"] for c in result["countsByStatus"]}
    assert counts == {"OPEN": 3, "IN_PROGRESS": 1, "AWAITING_REPLY": 0, "CLOSED": 0, "REJECTED": 0}
    everything = await listing(api, "agent-1", "agent")
    assert everything["totalCount"] == 6
    assert {c["status"]: c["count"] for c in everything["countsByStatus"]}["IN_PROGRESS"] == 2


async def test_ordering(api: Api, history: dict) -> None:
    ascending = {"field": "CREATED_AT", "direction": "ASC"}
    assert await numbers(api, "ann", orderBy=ascending) == [1, 2, 3, 4, 5]
    from datetime import UTC, datetime

    from models import Ticket

    await Ticket.filter(number=1).update(updated_at=datetime(2026, 4, 1, tzinfo=UTC))
    by_update = {"field": "UPDATED_AT", "direction": "DESC"}
    assert (await numbers(api, "ann", orderBy=by_update))[0] == 1


async def test_forward_pagination_walks_every_ticket_once(api: Api, history: dict) -> None:
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = await listing(api, first=2, after=after)
        seen += [e["node"]["number"] for e in page["edges"]]
        pages += 1
        info = page["pageInfo"]
        assert info["startCursor"] == page["edges"][0]["cursor"]
        assert info["endCursor"] == page["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == [5, 4, 3, 2, 1]
    assert pages == 3


async def test_backward_pagination_walks_every_ticket_once(api: Api, history: dict) -> None:
    seen: list[int] = []
    before = None
    while True:
        page = await listing(api, last=2, before=before)
        seen = [e["node"]["number"] for e in page["edges"]] + seen
        info = page["pageInfo"]
        assert info["hasNextPage"] is (before is not None)
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]
    assert seen == [5, 4, 3, 2, 1]


async def test_pagination_keeps_ties_apart_by_id(api: Api) -> None:
    for _ in range(4):
        ticket = await create_ticket(api, "ann")
        await given_created_at(ticket["id"], "2026-05-01T00:00:00+00:00")
    first = await listing(api, first=3)
    rest = await listing(api, first=3, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["number"] for e in first["edges"] + rest["edges"]] == [4, 3, 2, 1]
    back = await listing(api, last=3, before=rest["edges"][0]["cursor"])
    assert [e["node"]["number"] for e in back["edges"]] == [4, 3, 2]


async def test_a_page_combines_with_filters(api: Api, history: dict) -> None:
    first = await listing(api, first=1, filter={"urgent": True})
    after = first["pageInfo"]["endCursor"]
    second = await listing(api, first=1, after=after, filter={"urgent": True})
    assert [e["node"]["number"] for e in first["edges"] + second["edges"]] == [5, 2]
    assert second["pageInfo"]["hasNextPage"] is False


async def test_empty_history(api: Api) -> None:
    page = await listing(api)
    assert page["edges"] == [] and page["totalCount"] == 0
    assert page["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"first": 101}, "VALIDATION"),
        ({"first": -1}, "VALIDATION"),
        ({"last": 101}, "VALIDATION"),
        ({"first": 1, "last": 1}, "VALIDATION"),
        ({"first": 1, "before": "WyIyMDI2LTA1LTAxVDAwOjAwOjAwKzAwOjAwIiwgMV0="}, "VALIDATION"),
        ({"after": "not-a-cursor"}, "VALIDATION"),
        ({"after": "WyJub3QtYS1kYXRlIiwgMV0="}, "VALIDATION"),
        ({"filter": {"categorySlug": "nope"}}, "UNKNOWN_CATEGORY"),
        ({"filter": {"search": "x" * 201}}, "VALIDATION"),
        (
            {"filter": {"createdAfter": "2026-03-05T00:00Z", "createdBefore": "2026-03-01T00:00Z"}},
            "VALIDATION",
        ),
    ],
)
async def test_bad_arguments_are_typed_errors(api: Api, variables: dict, code: str) -> None:
    error = await api.error(TICKETS, variables, as_="ann")
    assert error["extensions"]["code"] == code
    assert error["message"]


async def test_ticket_query_hides_foreign_and_missing_tickets(api: Api, history: dict) -> None:
    bobs = history[6]["id"]
    assert (await api.gql(TICKET, {"id": bobs}, as_="ann"))["ticket"] is None
    assert (await api.gql(TICKET, {"id": "424242"}, as_="ann"))["ticket"] is None
    assert (await api.gql(TICKET, {"id": "garbage"}, as_="ann"))["ticket"] is None
    as_owner = await api.gql(TICKET, {"id": bobs}, as_="bob")
    assert as_owner["ticket"]["number"] == 6
    as_agent = await api.gql(TICKET, {"id": bobs}, as_="agent-1", role="agent")
    assert as_agent["ticket"]["assignee"] == {"sub": "agent-2"}


async def test_follow_up_of_a_ticket_hidden_from_the_viewer_reads_null(api: Api) -> None:
    await api.gql("{ me { id } }", as_="ann")
    bobs = await create_ticket(api, "bob")
    agents = await create_ticket(api, "agent-1", role="agent", followUpOf=bobs["id"])
    from models import Ticket

    await Ticket.filter(id=row_key(agents["id"])).update(owner_id="ann")
    seen_by_ann = await api.gql(TICKET, {"id": agents["id"]}, as_="ann")
    assert seen_by_ann["ticket"]["followUpOf"] is None
