"""Live updates: one event feed per process turns broker wake-ups into the gap-free event log.

Event ids follow commit order (see `events.record`), so "every event with an id above the cursor"
read from the table is exact. The broker only says *when* to read: a lost or late message, or a
broker outage, delays delivery (the feed also polls) but never loses or repeats an event.
Subscribers get events in id order, filtered by what their viewer may see.

Events are delivered whole or not yet: when the task that executes a subscriber's events finds
that an event's fields could not be resolved because a dependency (the database) is unavailable,
it withholds the event (`withhold_event`) instead of sending it; the stream then keeps its cursor
before that event and reads the log again from there, with backoff, until the event goes out
whole. Later events wait behind it, so order holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass, field

from models import EventKind, Ticket, TicketEvent
from models.db import background_task, stop_tasks
from models.rows import fetch
from pubsub import Broker, follow
from services import visibility
from services.availability import dependency_unavailable
from services.errors import UserInputError
from services.events import EVENTS_CHANNEL
from services.read_state import ReadMarkFeed
from services.stats import TicketStats, ticket_stats
from services.viewer import Viewer, before_expiry

log = logging.getLogger("helpdesk.live")

BATCH = 500
QUEUE_LIMIT = 1_000
RETRY_FIRST = 0.05  # seconds before the first retry of a withheld event; doubled up to
RETRY_MAX = 1.0  # this, which bounds the wait after a dependency comes back


@dataclass(slots=True)
class Delivery:
    """What became of the event a live stream yielded last, as told by the task that executes
    the stream's events and sends them (see `begin_delivery`)."""

    pending: bool = False  # an event was yielded and is being executed
    withheld: bool = False  # ... and was not sent: its fields could not all be resolved

    def settle(self) -> bool:
        """Whether the event yielded last was withheld; ready for the next one."""
        withheld = self.withheld
        self.pending = self.withheld = False
        return withheld


_DELIVERY: ContextVar[Delivery | None] = ContextVar("helpdesk_delivery", default=None)


def begin_delivery() -> Delivery:
    """Called by a task that executes a live stream and sends its results, before it reads
    the stream: the stream, running in that task, learns from it which events were withheld."""
    delivery = Delivery()
    _DELIVERY.set(delivery)
    return delivery


def withhold_event() -> Delivery | None:
    """The event being executed in this task is not to be sent (a dependency is unavailable):
    its stream yields it again later. Returns the delivery when there was an event to withhold."""
    delivery = _DELIVERY.get()
    if delivery is None or not delivery.pending:
        return None
    delivery.withheld = True
    return delivery


def _yielding() -> None:
    delivery = _DELIVERY.get()
    if delivery is not None:
        delivery.pending = True
        delivery.withheld = False


def _withheld() -> bool:
    delivery = _DELIVERY.get()
    return delivery is not None and delivery.settle()


class _Backoff:
    def __init__(self) -> None:
        self.delay = RETRY_FIRST

    async def wait(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, RETRY_MAX)

    def reset(self) -> None:
        self.delay = RETRY_FIRST


@dataclass(eq=False)
class _Subscriber:
    viewer: Viewer
    ticket_id: int | None
    kinds: Collection[EventKind] | None
    queue: asyncio.Queue[TicketEvent | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False

    def wants(self, event: TicketEvent, owner_id: str) -> bool:
        if self.ticket_id is not None and event.ticket_id != self.ticket_id:
            return False
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        return visibility.may_see_event(self.viewer, event, owner_id)

    def offer(self, event: TicketEvent) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            # A slow consumer re-reads from the log instead of growing memory without bound.
            self.overflowed = True
            return
        self.queue.put_nowait(event)


class EventFeed:
    """Reads committed events once per process and hands them to the local subscribers."""

    def __init__(self, broker: Broker, *, poll_seconds: float = 1.0) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._subscribers: set[_Subscriber] = set()
        # Who may want an event, by what it names: its ticket, its owner, or every ticket (staff).
        self._by_ticket: dict[int, set[_Subscriber]] = {}
        self._by_owner: dict[str, set[_Subscriber]] = {}
        self._all_tickets: set[_Subscriber] = set()
        self._owners: dict[int, str] = {}
        self._cursor: int | None = None  # read on the first successful pass
        self._wake = asyncio.Event()
        self.delivered = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Read marks travel beside the events, with the same lifetime (readStateChanged).
        self.read_marks = ReadMarkFeed(broker)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _bucket(self, subscriber: _Subscriber) -> set[_Subscriber]:
        if subscriber.ticket_id is not None:
            return self._by_ticket.setdefault(subscriber.ticket_id, set())
        if visibility.sees_every_ticket(subscriber.viewer):
            return self._all_tickets
        return self._by_owner.setdefault(subscriber.viewer.id, set())

    def _add(self, subscriber: _Subscriber) -> None:
        self._subscribers.add(subscriber)
        self._bucket(subscriber).add(subscriber)

    def _remove(self, subscriber: _Subscriber) -> None:
        self._subscribers.discard(subscriber)
        bucket = self._bucket(subscriber)
        bucket.discard(subscriber)
        if not bucket and bucket is not self._all_tickets:
            if subscriber.ticket_id is not None:
                del self._by_ticket[subscriber.ticket_id]
            else:
                del self._by_owner[subscriber.viewer.id]

    def _candidates(self, ticket_id: int, owner_id: str) -> list[_Subscriber]:
        return [
            *self._by_ticket.get(ticket_id, ()),
            *self._all_tickets,
            *self._by_owner.get(owner_id, ()),
        ]

    async def start(self) -> None:
        self._tasks = [
            background_task(self._listen(), name="event-feed-listen"),
            background_task(self._deliver(), name="event-feed-deliver"),
        ]
        await self.read_marks.start()

    async def close(self) -> None:
        await self.read_marks.close()
        await stop_tasks(*self._tasks)
        for subscriber in self._subscribers:
            subscriber.queue.put_nowait(None)

    async def _listen(self) -> None:
        """Keep one broker subscription; after each (re)connection, read the log to catch up."""
        wake = self._wake.set
        await follow(self._broker, EVENTS_CHANNEL, lambda _: wake(), connected=wake)

    async def _deliver(self) -> None:
        unavailable_since: float | None = None  # an outage is logged when it starts and ends
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wake-up does, and the feed would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not dependency_unavailable(exc):
                    log.exception("reading the event log failed; retrying")
                elif unavailable_since is None:
                    unavailable_since = time.monotonic()
                    log.warning("event log unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(self._poll_seconds)
            else:
                if unavailable_since is not None:
                    down = time.monotonic() - unavailable_since
                    log.warning("event log available again after %.1fs", down)
                    unavailable_since = None

    async def _catch_up(self) -> None:
        await self._ensure_cursor()
        assert self._cursor is not None
        while True:
            events = await fetch(
                TicketEvent.filter(id__gt=self._cursor).order_by("id").limit(BATCH)
            )
            if not events:
                return
            owners = await self._owners_of({e.ticket_id for e in events})
            for event in events:
                owner_id = owners[event.ticket_id]
                for subscriber in self._candidates(event.ticket_id, owner_id):
                    if subscriber.wants(event, owner_id):
                        subscriber.offer(event)
                        self.delivered += 1
            self._cursor = events[-1].id
            if len(events) < BATCH:
                return

    async def _ensure_cursor(self) -> None:
        """Start from the newest event; set once (a later read must not skip ahead)."""
        if self._cursor is None:
            latest = await _latest_event_id()
            if self._cursor is None:
                self._cursor = latest

    async def _owners_of(self, ticket_ids: set[int]) -> dict[int, str]:
        missing = [i for i in ticket_ids if i not in self._owners]
        if missing:
            if len(self._owners) > 100_000:
                self._owners.clear()
            rows = await Ticket.filter(id__in=missing).values_list("id", "owner_id")
            self._owners.update({int(i): str(o) for i, o in rows})
        return {i: self._owners[i] for i in ticket_ids}

    async def events(
        self,
        *,
        viewer: Viewer,
        ticket_id: int | None = None,
        after: int | None = None,
        kinds: Collection[EventKind] | None = None,
        expires_at: float | None = None,
    ) -> AsyncIterator[TicketEvent]:
        """Events the viewer may see, in order: first those after `after` from the log, then
        live ones, with no gap and no duplicate. Ends with NotAuthenticated when the token
        expires."""
        visible = visibility.tickets(viewer)
        if ticket_id is not None and not await visible.filter(id=ticket_id).exists():
            raise UserInputError.not_found("Ticket", "ticketId")
        subscriber = _Subscriber(viewer, ticket_id, kinds)
        self._add(subscriber)  # before reading the log, so nothing falls between
        try:
            await self._ensure_cursor()
            assert self._cursor is not None
            sent = self._cursor if after is None else after
            reread = after is not None
            backoff = _Backoff()
            while True:
                if reread or subscriber.overflowed:
                    # From the log: the replay asked for, what a slow consumer missed, or
                    # what was withheld (and everything after it), in order.
                    subscriber.queue = asyncio.Queue()
                    subscriber.overflowed = False
                    reread = True  # until the log is read to its end
                    try:
                        async with aclosing(_replay(subscriber, sent)) as replay:
                            async for old in replay:
                                _yielding()
                                yield old
                                if _withheld():
                                    break
                                sent = old.id
                            else:
                                reread = False
                    except Exception as exc:
                        if not dependency_unavailable(exc):
                            raise
                    if reread:
                        await backoff.wait()
                        continue
                    backoff.reset()
                event = await _next(subscriber, expires_at)
                if event is None:
                    return
                if event.id > sent:
                    _yielding()
                    yield event
                    if _withheld():
                        reread = True
                        await backoff.wait()
                        continue
                    sent = event.id
        finally:
            self._remove(subscriber)

    async def stats_updates(
        self, *, viewer: Viewer, expires_at: float | None = None, min_interval: float = 1.0
    ) -> AsyncIterator[TicketStats]:
        """The figures now, then again after visible changes, at most once per `min_interval`."""
        subscriber = _Subscriber(viewer, None, None)
        self._add(subscriber)
        backoff = _Backoff()
        try:
            while True:
                pushed = time.monotonic()
                try:
                    stats = await ticket_stats(viewer=viewer)
                except Exception as exc:
                    if not dependency_unavailable(exc):
                        raise
                    await backoff.wait()  # the figures, once the database answers again
                    continue
                backoff.reset()
                yield stats
                if await _next(subscriber, expires_at) is None:
                    return
                await asyncio.sleep(max(0.0, pushed + min_interval - time.monotonic()))
                while not subscriber.queue.empty():  # coalesce what came meanwhile
                    if subscriber.queue.get_nowait() is None:
                        return
                subscriber.overflowed = False
        finally:
            self._remove(subscriber)


async def _next(subscriber: _Subscriber, expires_at: float | None) -> TicketEvent | None:
    return await before_expiry(subscriber.queue.get, expires_at)


async def _replay(subscriber: _Subscriber, after: int) -> AsyncGenerator[TicketEvent, None]:
    """Events after the cursor from the log, as the subscriber may see them."""
    query = visibility.events(subscriber.viewer)
    if subscriber.ticket_id is not None:
        query = query.filter(ticket_id=subscriber.ticket_id)
    if subscriber.kinds is not None:
        query = query.filter(kind__in=list(subscriber.kinds))
    cursor = after
    while True:
        batch = await fetch(query.filter(id__gt=cursor).order_by("id").limit(BATCH))
        for event in batch:
            yield event
        if len(batch) < BATCH:
            return
        cursor = batch[-1].id


async def _latest_event_id() -> int:
    latest = await TicketEvent.all().order_by("-id").first()
    return latest.id if latest else 0
