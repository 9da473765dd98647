"""Every argument is bounded before it reaches the database: hostile values get typed errors.

Slugs and user ids longer than their columns, ids and cursor ids beyond a BIGINT, and signed
tokens whose claims have the wrong type or content (a list for a role, NUL or a lone surrogate in
`sub`): each gets the error an unknown value of that kind gets, never an internal error. (Request
bodies with lone surrogates never get this far: the JSON parser refuses them.)
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from models import Category, User
from services.validation import USER, global_id
from tests.conftest import TEST_SECRET, Api
from tests.fixtures import create_ticket

SLUG_MAX = Category._meta.fields_map["slug"].max_length
USER_ID_MAX = User._meta.fields_map["id"].max_length
LONG_SLUG = "app-help" + "x" * SLUG_MAX
LONG_USER_ID = "agent-" + "x" * USER_ID_MAX
LONE_SURROGATE = "\ud800"

CREATE = """mutation($i: CreateTicketInput!) {
  createTicket(input: $i) { ticket { id } errors { code field } } }"""
RECATEGORIZE = """mutation($i: RecategorizeTicketInput!) {
  recategorizeTicket(input: $i) { ticket { id } errors { code field } } }"""
ASSIGN = """mutation($i: AssignTicketInput!) {
  assignTicket(input: $i) { ticket { id } errors { code field } } }"""
TICKETS = """query($f: TicketFilter, $after: String, $before: String, $last: Int,
                   $order: TicketOrder) {
  tickets(filter: $f, after: $after, before: $before, last: $last, orderBy: $order) {
    totalCount edges { node { id } } } }"""


async def post(api: Api, query: str, variables: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    status, body = await api.post(query, variables, **kwargs)
    assert status == 200, body
    return body


def top_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


async def test_create_ticket_refuses_a_slug_longer_than_any_category(api: Api) -> None:
    values = {"categorySlug": LONG_SLUG, "question": "Hello"}
    body = await post(api, CREATE, {"i": values}, as_="ann")
    assert body["data"]["createTicket"] == {
        "ticket": None,
        "errors": [{"code": "UNKNOWN_CATEGORY", "field": "categorySlug"}],
    }, body


async def test_recategorize_refuses_a_slug_longer_than_any_category(api: Api) -> None:
    ticket = await create_ticket(api, as_="ann")
    values = {"ticketId": ticket["id"], "categorySlug": LONG_SLUG}
    body = await post(api, RECATEGORIZE, {"i": values}, as_="ann")
    assert body["data"]["recategorizeTicket"]["errors"] == [
        {"code": "UNKNOWN_CATEGORY", "field": "categorySlug"}
    ], body


async def test_assign_refuses_a_user_id_longer_than_any_user(api: Api) -> None:
    ticket = await create_ticket(api, as_="ann")
    values = {"ticketId": ticket["id"], "assigneeId": global_id(USER, LONG_USER_ID)}
    body = await post(api, ASSIGN, {"i": values}, as_="root", role="admin")
    assert body["data"]["assignTicket"]["errors"] == [
        {"code": "NOT_FOUND", "field": "assigneeId"}
    ], body


@pytest.mark.parametrize(
    ("filter_", "code"),
    [
        ({"categorySlug": LONG_SLUG}, "UNKNOWN_CATEGORY"),
    ],
    ids=["long-slug"],
)
async def test_ticket_filters_refuse_unbounded_values_as_typed_errors(
    api: Api, filter_: dict[str, str], code: str
) -> None:
    await create_ticket(api, as_="ann")
    body = await post(api, TICKETS, {"f": filter_}, as_="agent", role="agent")
    assert top_code(body) == code, body
    assert body["data"] is None


@pytest.mark.parametrize("owner", [LONG_USER_ID, "u\u0000"], ids=["long", "nul"])
async def test_an_owner_id_no_user_can_have_matches_no_ticket(api: Api, owner: str) -> None:
    """A global id whose user key no token could carry names nobody, as an unknown user."""
    await create_ticket(api, as_="ann")
    filter_ = {"ownerId": global_id(USER, owner)}
    body = await post(api, TICKETS, {"f": filter_}, as_="agent", role="agent")
    assert "errors" not in body, body
    assert body["data"]["tickets"]["edges"] == []


def _cursor(value: Any, row_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, row_id]).encode()).decode()


NOW = "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(NOW, 2**63),
        _cursor(NOW, -(2**63) - 1),
        _cursor(NOW, 10**30),
        _cursor(NOW + "x" * 5000, 1),
        _cursor("9999999999-01-01T00:00:00+00:00", 1),
        _cursor("9999-12-31T23:59:59-12:00", 1),
        _cursor(NOW, True),
        "A" * 5000,
        "!!!not base64!!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
    ids=[
        "id-2^63",
        "id-below-bigint",
        "id-10^30",
        "long-value",
        "year-huge",
        "year-10000-in-utc",
        "id-bool",
        "long",
        "not-base64",
        "not-utf8",
    ],
)
@pytest.mark.parametrize("direction", ["after", "before"])
async def test_cursors_out_of_range_are_invalid_cursors(
    api: Api, cursor: str, direction: str
) -> None:
    await create_ticket(api, as_="ann")
    variables: dict[str, Any] = {direction: cursor}
    if direction == "before":
        variables["last"] = 5
    for order in ("CREATED_AT", "UPDATED_AT"):
        variables["order"] = {"field": order}
        body = await post(api, TICKETS, variables, as_="ann")
        assert top_code(body) == "VALIDATION", body
        assert body["errors"][0]["message"] == "Invalid cursor.", body


def _signed(**claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "u1", "name": "User One", "role": "customer", "iat": now, "exp": now + 600}
    payload.update(claims)
    return jwt.encode(payload, TEST_SECRET, algorithm="HS256")


BAD_CLAIMS: dict[str, dict[str, Any]] = {
    "role-list": {"role": ["admin"]},
    "role-object": {"role": {"admin": True}},
    "role-number": {"role": 1},
    "sub-list": {"sub": ["u1"]},
    "sub-number": {"sub": 42},
    "sub-nul": {"sub": "u\u00001"},
    "sub-surrogate": {"sub": "u" + LONE_SURROGATE},
    "sub-too-long": {"sub": "u" * (USER_ID_MAX + 1)},
    "name-nul": {"name": "Ann\u0000"},
    "name-list": {"name": ["Ann"]},
    "exp-string": {"exp": "tomorrow"},
    "exp-list": {"exp": [1]},
    "exp-beyond-a-double": {"exp": 10**400},
    "iat-string": {"iat": "now"},
    "nbf-list": {"nbf": [1]},
}


@pytest.mark.parametrize("case", list(BAD_CLAIMS))
async def test_signed_tokens_with_claims_of_the_wrong_type_are_401(api: Api, case: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": 'mutation { takeTicket(input: {ticketId: "1"}) { errors { code } } }'},
        headers={"Authorization": f"Bearer {_signed(**BAD_CLAIMS[case])}"},
    )
    assert response.status == 401, await response.text()
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body


async def test_instants_beyond_year_9999_in_utc_are_validation_errors(api: Api) -> None:
    await create_ticket(api, as_="ann")
    for name in ("createdAfter", "createdBefore"):
        filter_ = {name: "9999-12-31T23:59:59-12:00"}
        body = await post(api, TICKETS, {"f": filter_}, as_="agent", role="agent")
        assert top_code(body) == "VALIDATION", body


async def test_instants_without_an_offset_are_read_as_utc(api: Api) -> None:
    await create_ticket(api, as_="ann")
    mixed = {"createdAfter": "2000-01-01T00:00:00", "createdBefore": "2999-01-01T00:00:00Z"}
    data = await api.gql(TICKETS, {"f": mixed}, as_="agent", role="agent")
    assert data["tickets"]["totalCount"] == 1
    later = {"createdAfter": "2999-01-01T00:00:00"}
    data = await api.gql(TICKETS, {"f": later}, as_="agent", role="agent")
    assert data["tickets"]["totalCount"] == 0
    reversed_ = {"createdAfter": "2999-01-01T00:00:00", "createdBefore": "2000-01-01T00:00:00Z"}
    body = await post(api, TICKETS, {"f": reversed_}, as_="agent", role="agent")
    assert top_code(body) == "VALIDATION", body
