"""createTicket through the HTTP API: success, every input error, idempotency, follow-ups."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api
from tests.fixtures import CREATE, TICKET, TICKETS, create_ticket, missing_id


async def test_customer_creates_ticket_in_a_section(api: Api) -> None:
    ticket = await create_ticket(
        api, "ann", question="Как создать кампанию?\nПодробности ниже.", urgent=True
    )
    assert ticket["number"] == 1
    assert ticket["status"] == "OPEN"
    assert ticket["urgent"] is True
    assert ticket["summary"] == "Как создать кампанию?"
    assert ticket["category"] == {"slug": "app-help"}
    owner = ticket["owner"]
    assert (owner["sub"], owner["name"], owner["role"]) == ("ann", "Ann", "CUSTOMER")
    assert ticket["assignee"] is None and ticket["closedAt"] is None
    assert ticket["version"] == 1

    data = await api.gql(TICKET, {"id": ticket["id"]}, as_="ann")
    assert [e["kind"] for e in data["ticket"]["events"]] == ["CREATED"]
    assert data["ticket"]["events"][0]["toStatus"] == "OPEN"
    assert data["ticket"]["events"][0]["actor"] == {"sub": "ann"}


async def test_question_type_of_documents_finance_is_a_leaf(api: Api) -> None:
    ticket = await create_ticket(
        api, "ann", categorySlug="metric-billing", summary="Billing metric"
    )
    assert ticket["category"] == {"slug": "metric-billing"}
    assert ticket["summary"] == "Billing metric"


async def test_numbers_are_sequential_across_customers(api: Api) -> None:
    created = [await create_ticket(api, who) for who in ("ann", "bob", "ann")]
    assert [t["number"] for t in created] == [1, 2, 3]


async def test_long_question_gives_a_short_derived_summary(api: Api) -> None:
    question = "word " * 100
    ticket = await create_ticket(api, "ann", question=question)
    assert len(ticket["summary"]) <= 120
    assert ticket["summary"].endswith("…")
    assert ticket["question"] == question.strip()


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"categorySlug": "nope"}, "UNKNOWN_CATEGORY", "categorySlug"),
        ({"categorySlug": "documents-finance"}, "CATEGORY_REQUIRES_SUBTYPE", "categorySlug"),
        ({"question": ""}, "VALIDATION", "question"),
        ({"question": "   \n\t "}, "VALIDATION", "question"),
        ({"question": "x" * 10_001}, "VALIDATION", "question"),
        ({"question": "bad\x00byte"}, "VALIDATION", "question"),
        ({"summary": " "}, "VALIDATION", "summary"),
        ({"summary": "s" * 201}, "VALIDATION", "summary"),
        ({"clientMutationId": "k" * 129}, "VALIDATION", "clientMutationId"),
        ({"followUpOf": missing_id("Ticket")}, "NOT_FOUND", "followUpOf"),
        ({"followUpOf": "not-an-id"}, "NOT_FOUND", "followUpOf"),
    ],
)
async def test_bad_input_is_a_typed_error_and_changes_nothing(
    api: Api, fields: dict[str, object], code: str, field: str
) -> None:
    values = {"categorySlug": "app-help", "question": "Help", **fields}
    data = await api.gql(CREATE, {"input": values}, as_="ann")
    payload = data["createTicket"]
    assert payload["ticket"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert payload["errors"][0]["message"]
    listed = await api.gql(TICKETS, {}, as_="ann")
    assert listed["tickets"]["totalCount"] == 0


async def test_documents_finance_error_names_the_question_types(api: Api) -> None:
    data = await api.gql(
        CREATE, {"input": {"categorySlug": "documents-finance", "question": "?"}}, as_="ann"
    )
    message = data["createTicket"]["errors"][0]["message"]
    assert "metric-billing" in message and "other" in message


async def test_several_bad_fields_are_reported_together(api: Api) -> None:
    values = {"categorySlug": "app-help", "question": "", "summary": "s" * 300}
    data = await api.gql(CREATE, {"input": values}, as_="ann")
    assert {e["field"] for e in data["createTicket"]["errors"]} == {"question", "summary"}


async def test_client_mutation_id_returns_the_first_result(api: Api) -> None:
    first = await create_ticket(api, "ann", clientMutationId="key-1", question="First")
    again = await create_ticket(api, "ann", clientMutationId="key-1", question="First")
    assert again["id"] == first["id"] and again["question"] == "First"
    other_user = await create_ticket(api, "bob", clientMutationId="key-1", question="Bob's")
    assert other_user["id"] != first["id"]
    listed = await api.gql(TICKETS, {}, as_="ann")
    assert listed["tickets"]["totalCount"] == 1


async def test_concurrent_retries_with_one_key_create_one_ticket(api: Api) -> None:
    values = {"categorySlug": "app-help", "question": "Once", "clientMutationId": "same"}
    results = await asyncio.gather(
        *(api.gql(CREATE, {"input": values}, as_="ann") for _ in range(5))
    )
    ids = {r["createTicket"]["ticket"]["id"] for r in results}
    assert len(ids) == 1
    assert all(r["createTicket"]["clientMutationId"] == "same" for r in results)
    listed = await api.gql(TICKETS, {}, as_="ann")
    assert listed["tickets"]["totalCount"] == 1


async def test_follow_up_links_an_own_earlier_ticket(api: Api) -> None:
    old = await create_ticket(api, "ann")
    new = await create_ticket(api, "ann", followUpOf=old["id"])
    assert new["followUpOf"] == {"id": old["id"], "number": old["number"]}


async def test_follow_up_of_a_foreign_ticket_is_not_found(api: Api) -> None:
    foreign = await create_ticket(api, "bob")
    data = await api.gql(
        CREATE,
        {"input": {"categorySlug": "app-help", "question": "?", "followUpOf": foreign["id"]}},
        as_="ann",
    )
    assert [e["code"] for e in data["createTicket"]["errors"]] == ["NOT_FOUND"]


async def test_agent_may_follow_up_any_ticket(api: Api) -> None:
    foreign = await create_ticket(api, "bob")
    ticket = await create_ticket(api, "agent-1", role="agent", followUpOf=foreign["id"])
    assert ticket["followUpOf"]["id"] == foreign["id"]
