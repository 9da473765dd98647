"""Authentication over HTTP: anonymous access, rejected tokens, users created on first sight."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from server import auth
from tests.conftest import TEST_SECRET, Api

ME = "{ me { sub name role } }"
TICKETS_TOTAL = "{ tickets { totalCount } }"

NEEDS_VIEWER = {
    "me": ME,
    "ticket": '{ ticket(id: "1") { id } }',
    "tickets": TICKETS_TOTAL,
    "createTicket": """
        mutation { createTicket(input: {categorySlug: "app-help", question: "Anonymous?"}) {
          ticket { id } errors { code } } }""",
    "replyToTicket": """
        mutation { replyToTicket(input: {ticketId: "1", body: "Anonymous reply"}) {
          message { id } errors { code } } }""",
}


async def test_categories_need_no_token(api: Api) -> None:
    data = await api.gql("{ categories { slug } }")
    assert [c["slug"] for c in data["categories"]][:1] == ["app-help"]


@pytest.mark.parametrize("field", list(NEEDS_VIEWER))
async def test_anonymous_requests_are_unauthenticated(api: Api, field: str) -> None:
    error = await api.error(NEEDS_VIEWER[field])
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert error["path"] == [field], error


async def test_anonymous_create_ticket_writes_nothing(api: Api) -> None:
    await api.error(NEEDS_VIEWER["createTicket"])
    data = await api.gql(TICKETS_TOTAL, as_="agent-1", role="agent")
    assert data["tickets"]["totalCount"] == 0


def _raw(payload: dict[str, Any], secret: str = TEST_SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "u1",
        "name": "User One",
        "role": "customer",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _bearer(token: str) -> str:
    return f"Bearer {token}"


WRONG_SECRET = "another-secret-" + "y" * 32

# Each builds the whole Authorization header value.
BAD_AUTHORIZATION: dict[str, Callable[[], str]] = {
    "garbage": lambda: _bearer("not.a.jwt"),
    "wrong-secret": lambda: _bearer(
        auth.encode(sub="u1", role="customer", name="U", secret=WRONG_SECRET)
    ),
    "expired": lambda: _bearer(
        auth.encode(sub="u1", role="customer", name="U", secret=TEST_SECRET, ttl_seconds=-10)
    ),
    "missing-role": lambda: _bearer(_raw(_claims(role=None))),
    "missing-sub": lambda: _bearer(_raw(_claims(sub=None))),
    "missing-exp": lambda: _bearer(_raw(_claims(exp=None))),
    "empty-sub": lambda: _bearer(_raw(_claims(sub=""))),
    "system-sub": lambda: _bearer(_raw(_claims(sub="system:sla", role="agent"))),
    "role-superuser": lambda: _bearer(_raw(_claims(role="superuser"))),
    "role-upper-case": lambda: _bearer(_raw(_claims(role="ADMIN"))),
    "alg-none": lambda: _bearer(jwt.encode(_claims(role="admin"), None, algorithm="none")),
    "basic-scheme": lambda: "Basic abc",
    "bearer-without-token": lambda: "Bearer",
}


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
async def test_invalid_token_is_http_401(api: Api, case: str) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ categories { slug } }"},
        headers={"Authorization": BAD_AUTHORIZATION[case]()},
    )
    body = await response.json()
    assert response.status == 401, body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
    assert "data" not in body, body
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), response.headers
    assert response.headers.get("X-Request-Id"), response.headers


async def test_valid_token_is_accepted(api: Api) -> None:
    """The control for the cases above: the same request with a good token is served."""
    response = await api.client.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": _bearer(_raw(_claims()))},
    )
    body = await response.json()
    assert response.status == 200, body
    assert body == {"data": {"me": {"sub": "u1", "name": "User One", "role": "CUSTOMER"}}}
    assert "WWW-Authenticate" not in response.headers


async def test_a_token_accepted_once_is_refused_once_it_expires(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified tokens are reused until their `exp`, never after it."""
    token = _raw(_claims(exp=int(time.time()) + 60))
    headers = {"Authorization": _bearer(token)}
    response = await api.client.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status == 200, await response.text()
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    response = await api.client.post("/graphql", json={"query": ME}, headers=headers)
    body = await response.json()
    assert response.status == 401, body
    assert body["errors"][0]["message"] == "token expired", body


def _as(api: Api, sub: str, role: str, name: str) -> dict[str, str]:
    return {"Authorization": _bearer(api.token(sub, role, name=name))}


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
async def test_user_is_created_on_first_sight(api: Api, role: str) -> None:
    from models import User

    sub = f"fresh-{role}"
    assert await User.filter(id=sub).count() == 0
    data = await api.gql(ME, headers=_as(api, sub, role, f"Fresh {role}"))
    assert data["me"] == {"sub": sub, "name": f"Fresh {role}", "role": role.upper()}
    stored = await User.get(id=sub)
    assert (stored.name, stored.role) == (f"Fresh {role}", role)


async def test_new_claims_for_the_same_sub_update_the_user(api: Api) -> None:
    first = await api.gql(ME, headers=_as(api, "u-rename", "customer", "Old Name"))
    assert first["me"] == {"sub": "u-rename", "name": "Old Name", "role": "CUSTOMER"}

    renamed = await api.gql(ME, headers=_as(api, "u-rename", "customer", "New Name"))
    assert renamed["me"] == {"sub": "u-rename", "name": "New Name", "role": "CUSTOMER"}

    promoted = await api.gql(ME, headers=_as(api, "u-rename", "agent", "New Name"))
    assert promoted["me"] == {"sub": "u-rename", "name": "New Name", "role": "AGENT"}

    back = await api.gql(ME, headers=_as(api, "u-rename", "customer", "Old Name"))
    assert back["me"] == {"sub": "u-rename", "name": "Old Name", "role": "CUSTOMER"}


async def test_request_id_is_generated_per_request(api: Api) -> None:
    ids = []
    for _ in range(2):
        response = await api.client.post("/graphql", json={"query": "{ categories { slug } }"})
        assert response.status == 200
        ids.append(response.headers.get("X-Request-Id"))
    assert all(ids), ids
    assert ids[0] != ids[1]


@pytest.mark.parametrize("authorization", [None, "Basic abc"], ids=["served", "rejected"])
async def test_client_request_id_is_echoed(api: Api, authorization: str | None) -> None:
    headers = {"X-Request-Id": "client-req-42"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await api.client.post(
        "/graphql", json={"query": "{ categories { slug } }"}, headers=headers
    )
    assert response.status == (200 if authorization is None else 401)
    assert response.headers.get("X-Request-Id") == "client-req-42"
