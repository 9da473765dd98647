"""The `graphql-ws` npm client (what Apollo Client and browser apps use) talks to us unchanged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.test_operations import sample


@pytest.fixture(scope="session")
def node_client(js_packages: Path) -> Path:
    return js_packages / "subscribe.mjs"


class Node:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, within: float = 10.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        assert raw, "the client exited"
        return json.loads(raw)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


async def start(
    script: Path, api: Api, token: str, after: str = "", *, url: str | None = None
) -> Node:
    url = url or f"ws://127.0.0.1:{api.client.server.port}/graphql"
    process = await asyncio.create_subprocess_exec(
        "node", str(script), url, token, after, stdout=asyncio.subprocess.PIPE
    )
    node = Node(process)
    assert await node.line() == {"started": True}
    return node


async def test_graphql_ws_client_replays_and_follows(api: Api, node_client: Path) -> None:
    ticket = await create_ticket(api, "ann")
    node = await start(node_client, api, api.token("ann"), after="0")
    try:
        replayed = await node.line()
        assert replayed["next"]["data"]["ticketEvents"]["kind"] == "CREATED"
        await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "hi"}}, as_="ann")
        live = await node.line()
        assert live["next"]["data"]["ticketEvents"]["message"] == {"body": "hi"}
    finally:
        await node.stop()


async def test_graphql_ws_client_sees_4403_for_a_bad_token(api: Api, node_client: Path) -> None:
    node = await start(node_client, api, "not-a-token")
    try:
        seen = [await node.line(), await node.line()]
        assert {"closed": 4403} in seen
    finally:
        await node.stop()


async def test_a_client_that_vanishes_is_logged_as_the_upgrade_it_had(
    api: Api, node_client: Path
) -> None:
    """A killed client cancels its socket's handler; the request was a 101, not a server error."""
    await create_ticket(api, "ann")
    node = await start(node_client, api, api.token("ann"), after="0")
    await node.line()  # subscribed and replaying: the socket is open
    node.process.kill()
    await node.stop()
    requests = "helpdesk_http_requests_total"
    seen = {"101": 0.0, "500": 0.0}
    for _ in range(200):  # the server notices the vanished client, then counts the request
        text = await (await api.client.get("/metrics")).text()
        seen = {
            status: sample(text, requests, method="GET", route="/graphql", status=status)
            for status in seen
        }
        if any(seen.values()):
            break
        await asyncio.sleep(0.05)
    assert seen == {"101": 1, "500": 0}
