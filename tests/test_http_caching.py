"""HTTP caching of GraphQL answers: what a shared cache may keep, ETag and 304, no-store for the
rest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

from server.config import Settings
from tests.conftest import Api, Backend, serve

CATEGORIES = "{ categories { slug name(locale: EN) } }"
FAQ = "query Help { faq(kind: FAQ) { slug answer(locale: EN) } }"
PUBLIC = "public, max-age=60"


def vary(response: ClientResponse) -> set[str]:
    return {name.strip().lower() for name in response.headers.get("Vary", "").split(",")}


def assert_not_stored(response: ClientResponse, cache_control: str = "no-store") -> None:
    assert response.headers.get("Cache-Control") == cache_control, dict(response.headers)
    assert "ETag" not in response.headers
    assert {"accept", "authorization"} <= vary(response), response.headers.get("Vary")


async def get(
    api: Api,
    query: str | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **params: str,
) -> ClientResponse:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    if query is not None:
        params["query"] = query
    response = await api.client.get("/graphql", params=params, headers=sent)
    await response.read()
    return response


def public_etag(response: ClientResponse) -> str:
    """The answer (or the 304 in its place) is cacheable by anyone: its ETag."""
    assert response.status in (200, 304)
    assert response.headers["Cache-Control"] == PUBLIC, dict(response.headers)
    assert {"accept", "authorization"} <= vary(response), response.headers.get("Vary")
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"'), etag  # strong: no W/
    return etag


async def test_anonymous_get_of_public_fields_is_cacheable_and_revalidates(api: Api) -> None:
    first = await get(api, CATEGORIES)
    etag = public_etag(first)
    body = await first.json()
    assert body["data"]["categories"] and "errors" not in body
    assert public_etag(await get(api, CATEGORIES)) == etag  # the same answer, the same tag

    again = await get(api, CATEGORIES, headers={"If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert public_etag(again) == etag

    listed = await get(api, CATEGORIES, headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status == 304  # If-None-Match compares weakly, in a list
    stale = await get(api, CATEGORIES, headers={"If-None-Match": '"something-else"'})
    assert stale.status == 200 and await stale.json() == body
    assert public_etag(stale) == etag


async def test_each_media_type_has_its_own_etag(api: Api) -> None:
    as_json = await get(api, CATEGORIES, headers={"Accept": "application/json"})
    as_graphql = await get(api, CATEGORIES, headers={"Accept": "application/graphql-response+json"})
    assert await as_json.read() == await as_graphql.read()
    assert public_etag(as_json) != public_etag(as_graphql)
    refused = await get(
        api,
        CATEGORIES,
        headers={"Accept": "application/json", "If-None-Match": public_etag(as_graphql)},
    )
    assert refused.status == 200


@pytest.fixture
async def faq_restored(api: Api) -> AsyncIterator[None]:
    """The FAQ is seeded data: `helpdesk migrate` refreshes it, as here afterwards."""
    from models import db

    yield
    await db.seed_faq()


async def test_a_changed_answer_gets_a_new_etag(api: Api, faq_restored: None) -> None:
    from models import FaqEntry

    before = await get(api, FAQ)
    etag = public_etag(before)
    entry = (await before.json())["data"]["faq"][0]

    # An operator rewrites an answer (the seed, then `helpdesk migrate`).
    await FaqEntry.filter(slug=entry["slug"]).update(answer_en="Rewritten.")

    after = await get(api, FAQ, headers={"If-None-Match": etag})
    assert after.status == 200
    assert (await after.json())["data"]["faq"][0] == {"slug": entry["slug"], "answer": "Rewritten."}
    assert public_etag(after) != etag


@pytest.mark.parametrize(
    "query",
    [
        "{ __typename }",
        "{ __schema { queryType { name } } }",
        "query Both { faq { slug } categories { slug } }",
        "query { ...Help } fragment Help on Query { faq { slug } ... on Query { __typename } }",
    ],
    ids=["typename", "introspection", "both", "fragments"],
)
async def test_public_fields_and_introspection_in_any_form_are_cacheable(
    api: Api, query: str
) -> None:
    public_etag(await get(api, query))


ROOT_FIELDS = """{ __schema { queryType { fields { name
  args { type { kind } }
  type { kind ofType { kind ofType { kind ofType { kind } } } } } } } }"""


async def test_what_anonymous_viewers_may_read_is_what_caches_may_keep(api: Api) -> None:
    """Every root field taking no required argument, alone: anonymous viewers read it without
    error exactly when its answer is cacheable by anyone."""
    fields = (await (await get(api, ROOT_FIELDS)).json())["data"]["__schema"]["queryType"]
    readable, cacheable = set(), set()
    for field in fields["fields"]:
        if any(arg["type"]["kind"] == "NON_NULL" for arg in field["args"]):
            continue
        kind = field["type"]
        while kind["kind"] in ("NON_NULL", "LIST"):
            kind = kind["ofType"]
        composite = kind["kind"] in ("OBJECT", "INTERFACE", "UNION")
        name = field["name"]
        response = await get(
            api, f"{{ {name} {{ __typename }} }}" if composite else f"{{ {name} }}"
        )
        if "errors" not in await response.json():
            readable.add(name)
        if response.headers["Cache-Control"].startswith("public"):
            cacheable.add(name)
    assert readable == cacheable == {"categories", "faq"}


async def test_the_chosen_operation_decides(api: Api) -> None:
    document = "query Help { faq { slug } } query Me { me { id } }"
    public_etag(await get(api, document, operationName="Help"))
    assert_not_stored(await get(api, document, operationName="Me"))


async def test_authenticated_answers_are_private(api: Api) -> None:
    token = api.token("ann")
    for query in (CATEGORIES, "{ me { id } }"):
        response = await get(api, query, token=token)
        assert response.status == 200 and "errors" not in await response.json()
        assert_not_stored(response, "private, no-store")
    posted = await api.client.post(
        "/graphql", json={"query": CATEGORIES}, headers={"Authorization": f"Bearer {token}"}
    )
    assert_not_stored(posted, "private, no-store")
    bad_token = await get(api, CATEGORIES, token="not-a-token")
    assert bad_token.status == 401
    assert_not_stored(bad_token, "private, no-store")


@pytest.mark.parametrize(
    "query",
    [
        "{ me { id } }",
        "{ categories { slug } tickets { totalCount } }",
        "query { ...Mine } fragment Mine on Query { ticketStats { urgentActive } }",
        "query { ... on Query { ticketEvents { edges { cursor } } } }",
    ],
    ids=["me", "public-and-not", "fragment", "inline-fragment"],
)
async def test_anonymous_get_of_a_field_needing_a_viewer_is_not_stored(
    api: Api, query: str
) -> None:
    response = await get(api, query)
    errors = (await response.json())["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"UNAUTHENTICATED"}
    assert_not_stored(response)


async def test_posts_are_not_stored(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": CATEGORIES})
    assert response.status == 200 and (await response.json())["data"]["categories"]
    assert_not_stored(response)
    mutation = await api.client.post(
        "/graphql",
        json={"query": 'mutation { takeTicket(input: {ticketId: "1"}) { errors { code } } }'},
    )
    assert_not_stored(mutation)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("{ categories { slug ", 200),
        ("{ categories { nope } }", 200),
        ('{ faq(kind: "FAQ") { slug } }', 200),
        ("mutation { takeTicket(input: {ticketId: 1}) { errors { code } } }", 405),
        ("subscription { ticketEvents { id } }", 400),
    ],
    ids=["syntax", "unknown-field", "bad-argument", "mutation", "subscription"],
)
async def test_errors_are_not_stored(api: Api, query: str, status: int) -> None:
    response = await get(api, query)
    assert response.status == status
    assert (await response.json())["errors"]
    assert_not_stored(response)


async def test_graphql_response_errors_are_not_stored(api: Api) -> None:
    response = await get(
        api, "{ categories { nope } }", headers={"Accept": "application/graphql-response+json"}
    )
    assert response.status == 400
    assert_not_stored(response)
    no_query = await get(api, headers={"Accept": "application/json"})
    assert no_query.status == 400
    assert_not_stored(no_query)


def persisted(query: str) -> dict[str, Any]:
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_persisted_queries_follow_the_same_rules(api: Api) -> None:
    query = "query Sections { categories { slug } }"
    extensions = json.dumps(persisted(query))
    unknown = await get(api, extensions=extensions)
    assert (await unknown.json())["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert_not_stored(unknown)

    registered = await get(api, query, extensions=extensions)
    etag = public_etag(registered)
    by_hash = await get(api, extensions=extensions)
    assert public_etag(by_hash) == etag
    assert await by_hash.json() == await registered.json()
    assert (await get(api, extensions=extensions, headers={"If-None-Match": etag})).status == 304

    private = "query Mine { me { id } }"
    await get(api, private, token=api.token("ann"), extensions=json.dumps(persisted(private)))
    assert_not_stored(await get(api, extensions=json.dumps(persisted(private))))


@pytest.mark.parametrize("seconds", ["0", "300"])
async def test_public_max_age_is_configurable(backend: Backend, seconds: str) -> None:
    max_age = Settings.from_env({"HELPDESK_PUBLIC_MAX_AGE": seconds}).public_max_age
    async with serve(backend, public_max_age=max_age) as client:
        response = await client.get("/graphql", params={"query": CATEGORIES})
        assert response.headers["Cache-Control"] == f"public, max-age={seconds}"
        assert "ETag" in response.headers


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_operations_endpoints_are_not_stored(api: Api, path: str) -> None:
    response = await api.client.get(path)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
