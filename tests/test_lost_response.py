"""Idempotency across a lost response: a createTicket that committed but whose response never
reached the client (the connection dropped after the commit) answers the retry with the same
clientMutationId with the same ticket, and makes no second one."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import Api
from tests.fixtures import CREATE, TICKETS
from tests.ws import connect

EVENTS = "subscription { ticketEvents { id kind ticket { id number } } }"


async def _send_and_drop_after_commit(api: Api, body: dict[str, object], token: str) -> str:
    """POST over a raw connection; once the ticket's event shows it committed, drop the
    connection without reading the response. Returns the committed ticket's id."""
    watcher = await connect(api.client, {"token": api.token("agent-1", "agent")})
    op_id = await watcher.subscribe(EVENTS)
    await asyncio.sleep(0.2)  # the subscription is registered
    payload = json.dumps(body).encode()
    server = api.client.server
    _, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(
        b"POST /graphql HTTP/1.1\r\n"
        + f"Host: {server.host}:{server.port}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\n".encode()
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    event = (await watcher.next_data(op_id, within=10))["ticketEvents"]
    writer.transport.abort()  # the response, if sent, is never read
    await watcher.close()
    assert event["kind"] == "CREATED"
    return str(event["ticket"]["id"])


async def test_a_retry_after_a_lost_response_returns_the_committed_ticket(api: Api) -> None:
    variables = {
        "input": {
            "categorySlug": "app-help",
            "question": "Is the first attempt kept?",
            "clientMutationId": "lost-response-1",
        }
    }
    committed = await _send_and_drop_after_commit(
        api, {"query": CREATE, "variables": variables}, api.token("ann")
    )

    retried = (await api.gql(CREATE, variables, as_="ann"))["createTicket"]
    again = (await api.gql(CREATE, variables, as_="ann"))["createTicket"]

    assert retried["errors"] == []
    assert retried["ticket"]["id"] == committed
    assert again["ticket"] == retried["ticket"]
    listed = await api.gql(TICKETS, {}, as_="ann")
    assert [e["node"]["id"] for e in listed["tickets"]["edges"]] == [committed]
