"""The npm clients that subscribe over HTTP talk to us unchanged: `graphql-sse` (distinct
connections mode) and Apollo Client's `HttpLink` (multipart subscriptions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.test_graphql_ws_client import Node, start

CLIENTS = pytest.mark.parametrize("script", ["sse.mjs", "multipart.mjs"])


async def start_http(js_packages: Path, script: str, api: Api, token: str, after: str) -> Node:
    url = f"http://127.0.0.1:{api.client.server.port}/graphql"
    return await start(js_packages / script, api, token, after, url=url)


@CLIENTS
async def test_the_client_replays_and_follows(api: Api, js_packages: Path, script: str) -> None:
    ticket = await create_ticket(api, "ann")
    cursor = await api.gql(
        "query($t: ID) { ticketEvents(ticketId: $t) { edges { cursor } } }",
        {"t": ticket["id"]},
        as_="ann",
    )
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "before"}}, as_="ann")
    after = cursor["ticketEvents"]["edges"][0]["cursor"]
    node = await start_http(js_packages, script, api, api.token("ann"), after)
    try:
        replayed = (await node.line())["next"]["data"]["ticketEvents"]
        assert replayed["message"]["body"] == "before"
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "hi"}}, as_="ann")
        live = (await node.line())["next"]["data"]["ticketEvents"]
        assert live["message"]["body"] == "hi"
        assert live["id"] != replayed["id"]
    finally:
        await node.stop()


@CLIENTS
async def test_the_client_hears_the_token_expire(api: Api, js_packages: Path, script: str) -> None:
    node = await start_http(js_packages, script, api, api.token("ann", ttl=2), "")
    try:
        errors = (await node.line())["next"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors
        assert "expired" in errors[0]["message"]
        assert await node.line() == {"complete": True}
    finally:
        await node.stop()


@CLIENTS
async def test_the_client_without_a_token_is_unauthenticated(
    api: Api, js_packages: Path, script: str
) -> None:
    node = await start_http(js_packages, script, api, "", "")
    try:
        errors = (await node.line())["next"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors
        assert await node.line() == {"complete": True}
    finally:
        await node.stop()
