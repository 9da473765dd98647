"""Ticket events: written inside the use case's transaction, published after it commits.

Their order is one rule, kept here on both sides. Writers draw event ids concurrently, so an id
may commit after a higher one, or never; readers (`EventOrder`) hand events out in id order and
pass a missing id only once no transaction that could still commit it is running, which a log
read tells with its snapshot (`read_log`). A reader that saw id N has seen every committed id
below N, and writers on different tickets never wait for each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from models import EventKind, Ticket, TicketEvent, TicketStatus
from models.rows import instances
from pubsub import Broker, BrokerUnavailable

EVENTS_CHANNEL = "helpdesk.ticket-events"
# While transactions that may hold a missing event id run, the log is read again after this
# long, doubling up to the most (seconds).
SETTLE_FIRST, SETTLE_MOST = 0.01, 0.5
# Events kept while they wait behind a gap; past this many they are read from the log instead.
AHEAD_MOST = 10_000

log = logging.getLogger("helpdesk.events")


async def record(
    ticket: Ticket,
    kind: EventKind,
    *,
    actor_id: str,
    at: datetime,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    from_category_id: int | None = None,
    to_category_id: int | None = None,
    message_id: int | None = None,
    from_assignee_id: str | None = None,
    to_assignee_id: str | None = None,
    request_id: int | None = None,
    comment: str | None = None,
    internal: bool = False,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Append one event; call inside the transaction that makes the change."""
    await transaction_id_first()
    return await TicketEvent.create(
        ticket_id=ticket.id,
        kind=kind,
        actor_id=actor_id,
        at=at,
        from_status=from_status,
        to_status=to_status,
        from_category_id=from_category_id,
        to_category_id=to_category_id,
        message_id=message_id,
        from_assignee_id=from_assignee_id,
        to_assignee_id=to_assignee_id,
        request_id=request_id,
        comment=comment,
        internal=internal,
        data=data,
    )


async def transaction_id_first(connection: BaseDBAsyncClient | None = None) -> None:
    """Give the transaction its id before it draws an event id (PostgreSQL).

    Writers commit concurrently, so event ids need not follow commit order: id 10 may commit
    after id 11, or never. Readers pass such a gap only once every transaction that was in
    progress when they saw it has ended (`EventOrder`); that is exact only if the transaction
    drawing an id already has a transaction id of its own, which PostgreSQL otherwise assigns
    lazily, at the first row written. SQLite writes one transaction at a time: ids follow commit
    order there. `connection`: the transaction's (by default, the one in context).
    """
    connection = connection or connections.get("default")
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query("SELECT pg_current_xact_id()")


def message(event: TicketEvent, owner_id: str) -> bytes:
    """The event as it travels between processes: its row, and what visibility needs that the
    row does not hold (the ticket's owner, who never changes)."""
    projection = TicketEvent._meta.fields_db_projection
    row = {column: getattr(event, name) for name, column in projection.items()}
    return orjson.dumps({"event": row, "ownerId": owner_id})


def from_message(data: bytes) -> tuple[TicketEvent, str] | None:
    """The event and its ticket's owner, or None for a message that does not carry them."""
    try:
        decoded = orjson.loads(data)
        event = instances(TicketEvent, [decoded["event"]])[0]
        owner_id = decoded["ownerId"]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return (event, owner_id) if isinstance(owner_id, str) else None


def channel() -> str:
    """The broker channel of this database's events. Redis channels span the whole server: two
    deployments that share one but not their database must not take each other's events."""
    connection: Any = connections.get("default")
    while (parent := getattr(connection, "_parent", None)) is not None:
        connection = parent  # a transaction's wrapper: the client it came from
    database = getattr(connection, "database", None)
    filename = getattr(connection, "filename", None)
    if database is None and filename not in (None, ":memory:"):
        database = os.path.abspath(filename)
    return f"{EVENTS_CHANNEL}:{database}" if database else EVENTS_CHANNEL


async def publish(broker: Broker, ticket: Ticket, events: Iterable[TicketEvent]) -> None:
    """Best effort after commit: a lost message is recovered from the event log by cursor."""
    name = channel()
    for event in events:
        try:
            await broker.publish(name, message(event, ticket.owner_id))
        except BrokerUnavailable as exc:
            # No traceback: the broker says why (and fails at once while Redis is left alone).
            log.error("publishing event %s failed (%s); subscribers will catch up", event.id, exc)
        except Exception:
            log.exception("publishing event %s failed; subscribers will catch up", event.id)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Which transactions had ended when a statement ran (PostgreSQL's `pg_current_snapshot()`):
    all below `xmin`, and those below `xmax` not listed `running`."""

    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str | None, elsewhere: Iterable[str] = ()) -> Snapshot:
        """From `pg_current_snapshot()::text`; `elsewhere`: the (32-bit) ids of transactions
        running on other databases of the cluster, which cannot hold our event ids."""
        if text is None:  # SQLite: nothing is ever in progress beside the reader
            return NOTHING_RUNNING
        xmin, xmax, listed = text.split(":")
        other = {int(x) for x in elsewhere}
        running = (int(x) for x in listed.split(",") if x)
        return cls(int(xmin), int(xmax), frozenset(x for x in running if x % 2**32 not in other))

    def ended(self, xid: int) -> bool:
        return xid < self.xmin or (xid < self.xmax and xid not in self.running)


NOTHING_RUNNING = Snapshot(0, 0, frozenset())
# The statement's snapshot, without the transactions of other databases (a transaction id is the
# cluster's); one that ends while this is read is kept, which only delays a reader.
SNAPSHOT = (
    'pg_current_snapshot()::text AS "snapshot", ARRAY(SELECT backend_xid::text'
    " FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
    ' AND datname IS DISTINCT FROM current_database()) AS "elsewhere"'
)


@dataclass(frozen=True, slots=True)
class LogPage:
    """Committed events after a cursor, in id order, each with its ticket's owner, read in one
    statement together with the snapshot it was read in."""

    events: list[tuple[TicketEvent, str]]
    snapshot: Snapshot
    newest: int  # the highest event id committed (0: none), as of the same snapshot


async def read_log(after: int, limit: int) -> LogPage:
    """Up to `limit` committed events with ids above `after`."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        sql = (
            'SELECT s."snapshot", s."elsewhere", e.*, t."owner_id" AS "_owner"'
            f" FROM (SELECT {SNAPSHOT}) s"
            ' LEFT JOIN LATERAL (SELECT * FROM "ticket_events" WHERE "id" > $1'
            ' ORDER BY "id" LIMIT $2) e ON TRUE'
            ' LEFT JOIN "tickets" t ON t."id" = e."ticket_id"'
            ' ORDER BY e."id"'
        )
    else:
        sql = (
            'SELECT NULL AS "snapshot", NULL AS "elsewhere", e.*, t."owner_id" AS "_owner"'
            ' FROM (SELECT 1) s LEFT JOIN (SELECT * FROM "ticket_events" WHERE "id" > ?'
            ' ORDER BY "id" LIMIT ?) e ON 1 LEFT JOIN "tickets" t ON t."id" = e."ticket_id"'
            ' ORDER BY e."id"'
        )
    rows = await connection.execute_query_dict(sql, [after, limit])
    snapshot = Snapshot.parse(rows[0]["snapshot"], rows[0]["elsewhere"] or ())
    rows = [row for row in rows if row["id"] is not None]
    built = instances(TicketEvent, rows)
    return LogPage(
        [(event, str(row["_owner"])) for event, row in zip(built, rows, strict=True)],
        snapshot,
        built[-1].id if built else after,
    )


async def newest_settled() -> int:
    """The highest event id below which no event can commit any more: the newest committed,
    once the transactions in progress when it was read have ended (they may hold lower ids)."""
    connection = connections.get("default")
    if connection.capabilities.dialect != "postgres":
        rows = await connection.execute_query_dict('SELECT MAX("id") AS "id" FROM "ticket_events"')
        return int(rows[0]["id"] or 0)
    sql = f'SELECT {SNAPSHOT}, (SELECT MAX("id") FROM "ticket_events") AS "id"'
    rows = await connection.execute_query_dict(sql)
    newest = int(rows[0]["id"] or 0)
    first = Snapshot.parse(rows[0]["snapshot"], rows[0]["elsewhere"])
    delay = SETTLE_FIRST
    while first.running:
        await asyncio.sleep(delay)
        delay = min(delay * 2, SETTLE_MOST)
        rows = await connection.execute_query_dict(f"SELECT {SNAPSHOT}")
        now = Snapshot.parse(rows[0]["snapshot"], rows[0]["elsewhere"])
        first = replace(first, running=frozenset(x for x in first.running if not now.ended(x)))
    return newest


class EventOrder:
    """Committed events, in id order, from broker messages and log reads that come in any order.

    `cursor` is exact: every event with an id up to it has been handed out or never will commit.
    An event next to the cursor goes out at once; one after a gap waits. A gap is filled by a
    message that comes late (a concurrent transaction committed a lower id a moment later), or
    settled by reading the log (`read`): an id missing from a read may still be held by a
    transaction that was in progress then; once all of those have ended, ids still missing below
    the highest id of that read never will be (they were rolled back).
    """

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self._ahead: dict[int, tuple[TicketEvent, str]] = {}  # arrived after a gap
        self.gap_since: float | None = None  # when the oldest open gap was seen (monotonic)
        # Gaps up to `_horizon` may only be filled by these transactions, still running then.
        self._holders: frozenset[int] = frozenset()
        self._horizon = cursor

    @property
    def settling(self) -> bool:
        """A log read saw a gap that transactions still in progress may fill."""
        return bool(self._holders)

    def arrived(self, event: TicketEvent, owner_id: str) -> list[tuple[TicketEvent, str]]:
        """A message: the events it lets out (none if it is ahead of a gap, or old)."""
        if event.id > self.cursor:
            if len(self._ahead) >= AHEAD_MOST:
                self._ahead.clear()  # the log holds them: read once the gap's grace is over
            self._ahead[event.id] = (event, owner_id)
            if self.gap_since is None:
                self.gap_since = time.monotonic()
        return self._release()

    def read(self, page: LogPage) -> list[tuple[TicketEvent, str]]:
        """A log page read after the cursor: the events it lets out, up to the first gap a
        running transaction may still fill."""
        passable = self.cursor
        if self._holders and all(page.snapshot.ended(x) for x in self._holders):
            passable, self._holders = self._horizon, frozenset()
        out: list[tuple[TicketEvent, str]] = []
        for event, owner_id in page.events:
            if event.id <= self.cursor:
                continue
            if event.id != self.cursor + 1 and event.id > passable and page.snapshot.running:
                if not self._holders:
                    self._holders, self._horizon = page.snapshot.running, page.newest
                break
            out.append((event, owner_id))
            self.cursor = event.id
        out += self._release()
        if self._ahead:
            self.gap_since = time.monotonic()  # what still waits has a grace of its own again
        return out

    def _release(self) -> list[tuple[TicketEvent, str]]:
        out = []
        ahead = self._ahead
        for key in [k for k in ahead if k <= self.cursor]:
            del ahead[key]
        while (nxt := ahead.pop(self.cursor + 1, None)) is not None:
            out.append(nxt)
            self.cursor += 1
        if self.cursor >= self._horizon:
            self._holders = frozenset()
        if not ahead:
            self.gap_since = None
        elif out:
            self.gap_since = time.monotonic()  # a newer gap: its own grace
        return out
