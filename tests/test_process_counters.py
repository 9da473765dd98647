"""The process's own traffic in /metrics: statements sent to the database, broker messages
received."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.fixtures import create_ticket
from tests.test_operations import sample
from tests.ws import connect

STATEMENTS = "helpdesk_db_statements_total"
RECEIVED = "helpdesk_broker_messages_received_total"


async def counters(api: Api) -> tuple[float, float]:
    text = await (await api.client.get("/metrics")).text()
    return sample(text, STATEMENTS), sample(text, RECEIVED)


async def test_a_query_counts_every_statement_it_sends(api: Api, count_statements: Any) -> None:
    # given
    statements_before, _ = await counters(api)
    # when
    with count_statements() as request:
        await api.gql("query { tickets { totalCount } }", as_="ann")
    statements_after, _ = await counters(api)
    # then: the request's statements, and whatever the background work sent meanwhile
    assert len(request.statements) > 0
    assert statements_after - statements_before >= len(request.statements)


async def test_an_event_is_a_message_received_from_the_broker(api: Api) -> None:
    # given a live subscriber (it receives the event once the process has)
    socket_ = await connect(api.client, {"token": api.token("agent-1", "agent")})
    await socket_.subscribe("subscription { ticketEvents { id } }")
    _, received_before = await counters(api)
    # when
    await create_ticket(api, "ann")
    await socket_.receive()
    # then
    _, received_after = await counters(api)
    assert received_after - received_before >= 1
