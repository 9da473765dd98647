"""Live events go out whole or not yet: an event whose ticket cannot be read because the database
is unavailable is held back and delivered, whole and in order, once it can be."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services import live, ticket_reads
from tests.conftest import Api
from tests.fixtures import create_ticket
from tests.ws import connect

SHARED = "subscription { ticketEvents { id kind ticket { number } } }"
ALONE = "subscription($after: String) { ticketEvents(after: $after) { id kind ticket { number } } }"


@pytest.fixture
def database_away(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Reading tickets fails as during an outage, `failures` times, then works again."""
    state = {"failures": 0, "failed": 0}
    get_tickets = ticket_reads.get_tickets

    async def flaky(**kwargs: Any) -> Any:
        if state["failed"] < state["failures"]:
            state["failed"] += 1
            raise ConnectionRefusedError(111, "Connect call failed")
        return await get_tickets(**kwargs)

    monkeypatch.setattr(ticket_reads, "get_tickets", flaky)
    yield state


@pytest.mark.parametrize(
    ("query", "variables"),
    [(SHARED, None), (ALONE, {"after": None})],
    ids=["shared", "alone"],
)
async def test_an_event_is_held_back_until_its_ticket_can_be_read(
    api: Api, database_away: dict[str, int], query: str, variables: dict[str, Any] | None
) -> None:
    socket = await connect(api.client, {"token": api.token("agent-1", "agent")})
    op_id = await socket.subscribe(query, variables)
    first = await create_ticket(api, "ann")  # also proves the subscription is live
    assert (await socket.next_data(op_id))["ticketEvents"]["ticket"] == {"number": first["number"]}

    database_away["failures"] = 3
    second = await create_ticket(api, "ann")
    third = await create_ticket(api, "bob")
    got = [(await socket.next_data(op_id))["ticketEvents"] for _ in range(2)]

    assert [e["ticket"] for e in got] == [
        {"number": second["number"]},
        {"number": third["number"]},
    ]
    assert database_away["failed"] == 3
    await socket.close()


async def test_a_replay_is_held_back_too(api: Api, database_away: dict[str, int]) -> None:
    made = [await create_ticket(api, "ann") for _ in range(3)]
    database_away["failures"] = 2
    socket = await connect(api.client, {"token": api.token("agent-1", "agent")})
    op_id = await socket.subscribe(ALONE, {"after": "0"})
    got = [(await socket.next_data(op_id))["ticketEvents"] for _ in range(3)]
    assert [e["ticket"] for e in got] == [{"number": t["number"]} for t in made]
    assert database_away["failed"] == 2
    await socket.close()


async def test_dashboard_figures_wait_for_the_database(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"failed": 0}
    ticket_stats = live.ticket_stats

    async def flaky(**kwargs: Any) -> Any:
        if calls["failed"] < 2:
            calls["failed"] += 1
            raise ConnectionRefusedError(111, "Connect call failed")
        return await ticket_stats(**kwargs)

    monkeypatch.setattr(live, "ticket_stats", flaky)
    await create_ticket(api, "ann")
    socket = await connect(api.client, {"token": api.token("agent-1", "agent")})
    op_id = await socket.subscribe("subscription { ticketStatsChanged { urgentActive } }")

    assert (await socket.next_data(op_id))["ticketStatsChanged"] == {"urgentActive": 0}
    assert calls["failed"] == 2
    await socket.close()
