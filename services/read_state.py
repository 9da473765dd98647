"""Read state: how far each person has read each ticket, and what is unread for them.

A read mark is per user and ticket (`models.TicketRead`): every event up to its event id is read,
on every device of that user. Unread are the messages by others after the mark that the viewer
may see (`services.visibility.events`: internal notes for staff only). Which tickets count:

- a customer's own tickets, all of them: a ticket never opened has every answer unread;
- for staff, who see every ticket, the tickets they have opened (marked read at least once); a
  ticket they never opened has nothing unread for them, so the queue of strangers' tickets never
  turns into a wall of badges.

`unreadCount`, `lastReadAt`, the `unread` filter and `unreadTicketCount` all follow this one
definition (`_unread_after_mark` below). A page of tickets reads its counts in one statement.

Marking read is not a ticket event: the mark is the reader's own state, not a change of the ticket
(no version bump, no history entry that other viewers would see, no row in the log per glance).
The reader's other connections learn of it from a notice on the broker (`ReadMarkFeed`), which
`readStateChanged` delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.fields.data import DatetimeField

from models import EventKind, Role, Ticket, TicketEvent, TicketRead
from models.db import background_task, stop_tasks
from models.rows import Composed, render, select
from pubsub import Broker, BrokerUnavailable, follow
from services import visibility
from services.errors import ErrorCode, UserInputError
from services.validation import check_client_mutation_id
from services.viewer import Viewer, before_expiry, require_viewer

log = logging.getLogger("helpdesk.read_state")

READ_MARKS_CHANNEL = "helpdesk.read-marks"
# What an untracked ticket's mark stands for: nothing read (0), or everything read.
NOTHING_READ = "0"
EVERYTHING_READ = "9223372036854775807"
NOTICE_QUEUE_LIMIT = 100  # notices waiting for one slow subscriber; more are dropped
READY_WAIT = 5.0  # seconds a new subscriber waits for the process's broker subscription


@dataclass(frozen=True, slots=True)
class ReadState:
    unread_count: int
    last_read_at: datetime | None


def _counts_unopened(viewer: Viewer) -> bool:
    """Whether a ticket the viewer never marked read counts as unread (see the module)."""
    return not visibility.sees_every_ticket(viewer)


def _messages_by_others(viewer: Viewer, ticket_ids: list[int] | None = None) -> Any:
    """The MESSAGE_ADDED events the viewer may see, written by someone else: (id, ticket_id)."""
    query = visibility.events(viewer).filter(kind=EventKind.MESSAGE_ADDED)
    if ticket_ids is not None:
        query = query.filter(ticket_id__in=ticket_ids)
    return query.exclude(actor_id=viewer.id).values("id", "ticket_id")


def _marks(viewer: Viewer, ticket_ids: list[int] | None = None) -> Any:
    query = TicketRead.filter(user_id=viewer.id)
    if ticket_ids is not None:
        query = query.filter(ticket_id__in=ticket_ids)
    return query.values("ticket_id", "last_event_id", "last_read_at")


def _default_mark(viewer: Viewer) -> str:
    return NOTHING_READ if _counts_unopened(viewer) else EVERYTHING_READ


def _unread_ticket_ids(viewer: Viewer) -> Composed:
    """The ids of the tickets with something unread for the viewer (SQL). Staff start from their
    own marks (a handful) rather than from every ticket's messages."""
    if _counts_unopened(viewer):
        return Composed(
            '(SELECT "m"."ticket_id" FROM ({messages}) "m" WHERE "m"."id" > COALESCE('
            '(SELECT "r"."last_event_id" FROM ({marks}) "r" WHERE "r"."ticket_id" = '
            '"m"."ticket_id"), ' + _default_mark(viewer) + "))",
            messages=_messages_by_others(viewer),
            marks=_marks(viewer),
        )
    return Composed(
        '(SELECT "r"."ticket_id" FROM ({marks}) "r" WHERE EXISTS (SELECT 1 FROM ({messages}) "m" '
        'WHERE "m"."ticket_id" = "r"."ticket_id" AND "m"."id" > "r"."last_event_id"))',
        marks=_marks(viewer),
        messages=_messages_by_others(viewer),
    )


def unread_filter(viewer: Viewer, unread: bool) -> Q:
    """The condition on tickets: something unread for the viewer (false: nothing)."""
    condition = Q(id__in=_unread_ticket_ids(viewer))
    return condition if unread else ~condition


async def read_states(*, viewer: Viewer, ticket_ids: Sequence[int]) -> dict[int, ReadState]:
    """The unread count and last read time of each visible ticket, in one statement."""
    ids = list(set(ticket_ids))
    if not ids:
        return {}
    sql, values = _page_statement(viewer, ids)
    rows = await select(sql, values, TicketRead)
    field: DatetimeField = TicketRead._meta.fields_map["last_read_at"]  # type: ignore[assignment]
    return {
        int(row["id"]): ReadState(
            unread_count=int(row["unread"]),
            last_read_at=None
            if row["marked_at"] is None
            else field.to_python_value(row["marked_at"]),
        )
        for row in rows
    }


def _page(viewer: Viewer, ids: list[int]) -> Composed:
    """The tickets, their marks and the messages after them, grouped: every derived table holds
    these tickets' rows only, however many tickets the viewer has."""
    return Composed(
        'SELECT "t"."id" "id", "r"."last_read_at" "marked_at", COUNT("m"."id") "unread" '
        'FROM ({tickets}) "t" LEFT JOIN ({marks}) "r" ON "r"."ticket_id" = "t"."id" '
        'LEFT JOIN ({messages}) "m" ON "m"."ticket_id" = "t"."id" '
        'AND "m"."id" > COALESCE("r"."last_event_id", ' + _default_mark(viewer) + ") "
        'GROUP BY "t"."id", "r"."last_read_at"',
        tickets=visibility.tickets(viewer).filter(id__in=ids).values("id"),
        marks=_marks(viewer, ids),
        messages=_messages_by_others(viewer, ids),
    )


# `_page` rendered by (dialect, role, number of tickets): building it through the ORM costs twice
# what running it does. It is rendered with stand-ins for the viewer's id and the ticket ids,
# which each call replaces by its own (the statement depends on nothing else of the viewer);
# pages of up to `_CACHED_UP_TO` tickets are kept.
_PAGE_STATEMENTS: dict[tuple[str, Role, int], tuple[str, list[Any]]] = {}
_CACHED_UP_TO = 100
_STAND_IN_USER = "\x00viewer"


def _page_statement(viewer: Viewer, ids: list[int]) -> tuple[str, list[Any]]:
    key = (TicketRead._meta.db.capabilities.dialect, viewer.role, len(ids))
    cached = _PAGE_STATEMENTS.get(key)
    if cached is None:
        if len(ids) > _CACHED_UP_TO:
            return render(_page(viewer, ids), TicketRead)
        stand_ins = [-1 - i for i in range(len(ids))]  # no ticket's id is negative
        cached = render(_page(Viewer(_STAND_IN_USER, "", viewer.role), stand_ins), TicketRead)
        _PAGE_STATEMENTS[key] = cached
    sql, template = cached
    return sql, [_actual(value, viewer, ids) for value in template]


def _actual(value: Any, viewer: Viewer, ids: list[int]) -> Any:
    if value == _STAND_IN_USER:
        return viewer.id
    if type(value) is int and value < 0:
        return ids[-1 - value]
    return value


async def unread_ticket_count(*, viewer: Viewer | None) -> int:
    """How many of the viewer's tickets have something unread (see the module for which)."""
    viewer = require_viewer(viewer)
    return await visibility.tickets(viewer).filter(unread_filter(viewer, True)).count()


async def mark_ticket_read(
    *,
    viewer: Viewer | None,
    broker: Broker,
    ticket_id: int,
    up_to_event_id: int | None = None,
    client_mutation_id: str | None = None,
) -> Ticket:
    """Moves the viewer's read mark of the ticket forward to the event `up_to_event_id` (an event
    of this ticket the viewer may see; NOT_FOUND otherwise), by default to the newest such event.
    A mark already further on stays where it is: reading never moves backwards. The ticket must
    be visible to the viewer, as for every ticket operation (NOT_FOUND otherwise).

    Not a ticket event (see the module): the viewer's other connections hear of a mark that moved
    from a notice on the broker, published after the write."""
    actor = require_viewer(viewer)
    errors: list[Any] = []
    check_client_mutation_id(client_mutation_id, errors)
    if errors:
        raise UserInputError.many(errors)
    ticket = await visibility.tickets(actor).get_or_none(id=ticket_id)
    if ticket is None:
        raise UserInputError.not_found("Ticket", "ticketId")
    visible = visibility.events(actor).filter(ticket_id=ticket_id)
    if up_to_event_id is None:
        event = await visible.order_by("-id").first()
    else:
        event = await visible.get_or_none(id=up_to_event_id)
        if event is None:
            raise UserInputError(
                ErrorCode.NOT_FOUND, "No such event on this ticket.", "upToEventId"
            )
    if event is not None and await _move_mark(actor.id, ticket_id, event):
        await _announce(broker, actor.id, ticket_id)
    return ticket


async def _move_mark(user_id: str, ticket_id: int, event: TicketEvent) -> bool:
    """Whether the mark moved: forward only, also when two marks race."""
    values = {"last_event_id": event.id, "last_read_at": event.at}
    behind = TicketRead.filter(user_id=user_id, ticket_id=ticket_id, last_event_id__lt=event.id)
    if await behind.update(**values):
        return True
    if await TicketRead.exists(user_id=user_id, ticket_id=ticket_id):
        return False  # already at or past the event
    try:
        await TicketRead.create(user_id=user_id, ticket_id=ticket_id, **values)
    except IntegrityError:
        # A first mark from another device came in between: move it if it is behind.
        return bool(await behind.update(**values))
    return True


async def _announce(broker: Broker, user_id: str, ticket_id: int) -> None:
    """Best effort: a lost notice leaves another device's badge stale until it reads again."""
    notice = orjson.dumps({"user": user_id, "ticket": ticket_id})
    try:
        await broker.publish(READ_MARKS_CHANNEL, notice)
    except BrokerUnavailable as exc:
        log.error("announcing a read mark failed (%s)", exc)
    except Exception:
        log.exception("announcing a read mark failed")


class ReadMarkFeed:
    """One broker subscription per process for read marks, handed to the local subscribers of
    the user who marked (all of that user's connections, on any process)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._watchers: dict[str, set[asyncio.Queue[int | None]]] = {}
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def subscriber_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    async def start(self) -> None:
        self._tasks = [background_task(self._listen(), name="read-marks-listen")]

    async def close(self) -> None:
        await stop_tasks(*self._tasks)
        for queues in self._watchers.values():
            for queue in queues:
                queue.put_nowait(None)

    async def _listen(self) -> None:
        ready = self._ready
        await follow(
            self._broker, READ_MARKS_CHANNEL, self._hand_out, connected=ready.set, lost=ready.clear
        )

    def _hand_out(self, notice: bytes) -> None:
        try:
            parsed = orjson.loads(notice)
            user_id, ticket_id = str(parsed["user"]), int(parsed["ticket"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed read-mark notice")
            return
        for queue in self._watchers.get(user_id, ()):
            if queue.qsize() < NOTICE_QUEUE_LIMIT:
                queue.put_nowait(ticket_id)

    async def marks(
        self, *, viewer: Viewer, expires_at: float | None = None
    ) -> AsyncIterator[int | None]:
        """None first, once this process hears every later mark of the viewer; then the id of
        each ticket the viewer marks read, on any connection. Ends with NotAuthenticated when the
        token expires."""
        queue: asyncio.Queue[int | None] = asyncio.Queue()
        watchers = self._watchers.setdefault(viewer.id, set())
        watchers.add(queue)
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(READY_WAIT):
                    await self._ready.wait()
            yield None
            while True:
                ticket_id = await before_expiry(queue.get, expires_at)
                if ticket_id is None:
                    return
                yield ticket_id
        finally:
            watchers.discard(queue)
            if not watchers and self._watchers.get(viewer.id) is watchers:
                del self._watchers[viewer.id]
