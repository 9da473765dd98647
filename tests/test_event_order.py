"""Event order without a global lock: writers commit concurrently, readers never skip an event.

Writers on different tickets no longer queue on one lock, so an event id may commit after a
higher one, or never (rolled back). Subscribers still get every event once, in id order, and a
cursor (`after`) still means "everything below it was seen". Events reach subscribers from the
broker message; the log is read only when a message may be missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from models import EventKind, Role, TicketEvent
from server.app import FEED
from services import events
from services.events import EventOrder, LogPage, Snapshot
from services.validation import EVENT, global_id
from services.viewer import Viewer
from tests.conftest import Api, Backend
from tests.fixtures import REPLY, create_ticket, row_key
from tests.ws import connect

EVENTS = """subscription($after: String) {
  ticketEvents(after: $after) { id kind ticket { id } }
}"""
HOLD_SECONDS = 0.2


def services_only(backend: Backend) -> None:
    if backend.name == "embedded":
        pytest.skip("SQLite writes one transaction at a time: nothing commits concurrently")


def held_after_recording(
    monkeypatch: pytest.MonkeyPatch, hold: Callable[[int], Awaitable[None]]
) -> None:
    """Each transaction that records an event waits in `hold(ticket_id)` before it commits."""
    record = events.record

    async def recording(ticket: Any, *args: Any, **kwargs: Any) -> TicketEvent:
        event = await record(ticket, *args, **kwargs)
        await hold(ticket.id)
        return event

    monkeypatch.setattr(events, "record", recording)


async def watching(api: Api) -> tuple[Any, str]:
    """An agent's socket following every event, and its operation id."""
    socket = await connect(api.client, {"token": api.token("agent-2", "agent")})
    live = await socket.subscribe(EVENTS)
    await asyncio.sleep(0.1)
    return socket, live


async def created(api: Api, socket: Any, live: str, owner: str) -> dict[str, Any]:
    """A new ticket of `owner`, once its CREATED event has reached the socket."""
    ticket = await create_ticket(api, owner)
    event = (await socket.next_data(live))["ticketEvents"]
    assert (event["kind"], event["ticket"]["id"]) == ("CREATED", ticket["id"])
    return ticket


async def reply(api: Api, ticket: dict[str, Any], body: str) -> dict[str, Any]:
    data = await api.gql(
        REPLY, {"input": {"ticketId": ticket["id"], "body": body}}, as_="agent-1", role="agent"
    )
    return data["replyToTicket"]


async def test_writers_on_different_tickets_commit_concurrently(
    api: Api, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight replies to eight tickets, each transaction held open after its event: all eight
    are inside their transactions at once (with one lock for every writer, only one was)."""
    services_only(backend)
    tickets = [await create_ticket(api, f"writer-{i}") for i in range(8)]
    inside, most = 0, 0

    async def hold(_: int) -> None:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await asyncio.sleep(HOLD_SECONDS)
        inside -= 1

    held_after_recording(monkeypatch, hold)
    loop = asyncio.get_running_loop()
    started = loop.time()
    replies = await asyncio.gather(*(reply(api, t, "concurrent") for t in tickets))
    took = loop.time() - started
    assert all(r["errors"] == [] for r in replies)
    assert most == 8, f"at most {most} writers held their transactions together ({took:.2f}s)"


async def test_a_reader_never_skips_an_event_that_commits_late(
    api: Api, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lower event id that commits after a higher one: the higher waits for it, both arrive
    once, in id order, live and replayed from a cursor."""
    services_only(backend)
    socket, live = await watching(api)
    slow, fast = await created(api, socket, live, "ann"), await created(api, socket, live, "bob")
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(ticket_id: int) -> None:
        if ticket_id == row_key(slow["id"]):
            held.set()
            await release.wait()

    held_after_recording(monkeypatch, hold)
    first = asyncio.create_task(reply(api, slow, "drawn first, committed last"))
    await asyncio.wait_for(held.wait(), 5)
    assert (await reply(api, fast, "committed first"))["errors"] == []
    reads = api.client.app[FEED].log_reads
    await socket.nothing_within(0.4)  # the later id waits for the earlier one
    # ... reading the log now and then meanwhile (its reads back off), not in a busy loop.
    assert api.client.app[FEED].log_reads - reads < 15
    release.set()
    assert (await first)["errors"] == []
    got = [(await socket.next_data(live))["ticketEvents"] for _ in range(2)]
    assert [e["ticket"]["id"] for e in got] == [slow["id"], fast["id"]]
    assert row_key(got[0]["id"]) < row_key(got[1]["id"])
    await socket.nothing_within(0.3)

    # Replayed from before them: the same two, in the same order.
    before = await TicketEvent.filter(id__lt=row_key(got[0]["id"])).order_by("-id").first()
    assert before is not None
    replay = await socket.subscribe(EVENTS, {"after": global_id(EVENT, before.id)})
    again = [(await socket.next_data(replay))["ticketEvents"] for _ in range(2)]
    assert again == got
    await socket.close()


async def test_an_event_id_that_never_commits_does_not_stop_the_feed(
    api: Api, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that drew an event id and rolled back leaves a gap for good: the events
    after it still arrive, once the transaction has ended."""
    services_only(backend)
    socket, live = await watching(api)
    doomed, fine = await created(api, socket, live, "ann"), await created(api, socket, live, "bob")
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(ticket_id: int) -> None:
        if ticket_id == row_key(doomed["id"]):
            held.set()
            await release.wait()
            raise RuntimeError("rolled back after its event was written")

    held_after_recording(monkeypatch, hold)
    failing = asyncio.create_task(reply(api, doomed, "rolled back"))
    await asyncio.wait_for(held.wait(), 5)
    assert (await reply(api, fine, "committed"))["errors"] == []
    await socket.nothing_within(0.3)
    release.set()
    with pytest.raises(AssertionError):  # answered with a masked internal error
        await failing
    got = (await socket.next_data(live))["ticketEvents"]
    assert got["ticket"]["id"] == fine["id"]
    await socket.nothing_within(0.3)
    await socket.close()


async def test_events_come_from_the_message_not_the_log(api: Api) -> None:
    """Subscribers get events from the broker message: the log is not read once per event."""
    socket, live = await watching(api)
    ticket = await create_ticket(api, "ann")
    assert (await socket.next_data(live))["ticketEvents"]["kind"] == "CREATED"
    feed = api.client.app[FEED]
    reads = feed.log_reads
    for i in range(20):
        assert (await reply(api, ticket, f"reply {i}"))["errors"] == []
    for _ in range(20):
        assert (await socket.next_data(live))["ticketEvents"]["kind"] == "MESSAGE_ADDED"
    # A read only when the broker was quiet for a second (the poll), never one per event.
    assert feed.log_reads - reads < 10
    await socket.close()


# The ordering rule itself.


def _event(id: int) -> TicketEvent:
    return TicketEvent(
        id=id, ticket_id=1, kind=EventKind.CREATED, actor_id="ann", at=datetime.now(UTC)
    )


def _page(ids: list[int], running: set[int], xmin: int = 100, xmax: int = 200) -> LogPage:
    listed = [(_event(i), "ann") for i in ids]
    return LogPage(listed, Snapshot(xmin, xmax, frozenset(running)), ids[-1] if ids else 0)


def _ids(out: list[tuple[TicketEvent, str]]) -> list[int]:
    return [event.id for event, _ in out]


def test_messages_go_out_in_id_order_once() -> None:
    order = EventOrder(10)
    assert _ids(order.arrived(_event(11), "ann")) == [11]
    assert _ids(order.arrived(_event(13), "ann")) == []  # 12 is missing
    assert order.gap_since is not None
    assert _ids(order.arrived(_event(12), "ann")) == [12, 13]
    assert _ids(order.arrived(_event(12), "ann")) == []  # again: already out
    assert order.cursor == 13 and order.gap_since is None


def test_a_log_read_stops_at_a_gap_a_running_transaction_may_fill() -> None:
    order = EventOrder(10)
    # 12 is missing while transaction 150 runs: 11 goes out, 13 waits.
    assert _ids(order.read(_page([11, 13], running={150}))) == [11]
    assert order.settling
    # 150 still runs (and 160 began): still waiting.
    assert _ids(order.read(_page([13], running={150, 160}, xmin=150))) == []
    # 150 has ended and 12 is not there: it never will be; 160 began after the gap was seen.
    assert _ids(order.read(_page([13, 14], running={160}, xmin=160))) == [13, 14]
    assert not order.settling and order.cursor == 14


def test_a_late_message_fills_the_gap_a_read_waits_on() -> None:
    order = EventOrder(10)
    assert _ids(order.read(_page([12], running={150}))) == []
    assert _ids(order.arrived(_event(11), "ann")) == [11]
    assert _ids(order.arrived(_event(12), "ann")) == [12]
    assert not order.settling


def test_events_waiting_behind_a_gap_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "AHEAD_MOST", 3)
    order = EventOrder(10)
    for i in range(12, 20):
        order.arrived(_event(i), "ann")
    assert len(order._ahead) <= 3 and order.gap_since is not None
    # The log gives what was let go, in order.
    assert _ids(order.read(_page(list(range(11, 20)), running=set()))) == list(range(11, 20))


def test_with_nothing_running_every_gap_is_final() -> None:
    order = EventOrder(10)
    assert _ids(order.read(_page([12, 15], running=set()))) == [12, 15]


def test_snapshot_text_is_read_as_postgresql_writes_it() -> None:
    snapshot = Snapshot.parse("100:105:100,102")
    assert [snapshot.ended(x) for x in (99, 100, 101, 102, 104, 105)] == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert not Snapshot.parse(None).running
    # Transactions of other databases (listed by their 32-bit ids) cannot hold our event ids.
    assert Snapshot.parse("100:105:100,102", elsewhere=["102"]).running == {100}
    assert Snapshot.parse(f"{2**32 + 7}:{2**32 + 9}:{2**32 + 7}", ["7"]).running == frozenset()


async def test_events_that_wait_together_are_announced_together(api: Api) -> None:
    """The stream tells its executor of the events waiting together before the first of them,
    so their relations are read once for all (one ticket read per batch, not per event)."""
    feed = api.client.app[FEED]
    batches: list[list[int]] = []
    agent = Viewer("agent-2", "Agent", Role.AGENT)
    stream = feed.events(viewer=agent, batch=lambda ready: batches.append([e.id for e in ready]))
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.1)  # subscribed, waiting
    assert feed.cursor is not None
    ids = [feed.cursor + i for i in (1, 2, 3)]
    feed._dispatch([(_event(i), "ann") for i in ids])
    assert (await first).id == ids[0]
    assert [(await anext(stream)).id for _ in ids[1:]] == ids[1:]
    assert batches == [ids]
    await stream.aclose()
