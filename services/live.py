"""Live updates: one event feed per process hands committed events to its subscribers.

Each event travels in its broker message, with what visibility needs (`events.message`), so a
process delivers from the message without reading the database. Writers commit concurrently, so
messages may come out of id order, late, or (Redis down, a publisher gone) not at all:
`events.EventOrder` puts them back in id order, and the feed reads the log only when one may be
missing (a gap not filled within `GAP_GRACE`, a reconnection, a quiet broker: it polls). So an
event is never lost or repeated, and the database work per event does not grow with the number
of processes. Subscribers get events in id order, filtered by what their viewer may see; a
replay (`after`) reads the log up to where the feed stands and continues with the live events.

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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass, field

from models import EventKind, TicketEvent
from models.db import background_task, stop_tasks
from models.rows import fetch
from pubsub import Broker, follow
from services import visibility
from services.availability import dependency_unavailable
from services.errors import UserInputError
from services.events import (
    SETTLE_FIRST,
    SETTLE_MOST,
    EventOrder,
    channel,
    from_message,
    newest_settled,
    read_log,
)
from services.read_state import ReadMarkFeed
from services.stats import TicketStats, ticket_stats
from services.viewer import Viewer, before_expiry

log = logging.getLogger("helpdesk.live")

BATCH = 500
QUEUE_LIMIT = 1_000
RETRY_FIRST = 0.05  # seconds before the first retry of a withheld event; doubled up to
RETRY_MAX = 1.0  # this, which bounds the wait after a dependency comes back
# How long an event that came after a gap waits for the missing one's message before the log
# is read (seconds): concurrent transactions publish in the order they commit, a moment apart.
GAP_GRACE = 0.05


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
    """Hands committed events to the local subscribers, from broker messages; reads the log only
    when a message may be missing (a gap that is not filled soon, a reconnection, a quiet
    broker), so the database work per event does not grow with the number of processes."""

    def __init__(
        self, broker: Broker, *, poll_seconds: float = 1.0, gap_grace: float = GAP_GRACE
    ) -> None:
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._gap_grace = gap_grace
        self._subscribers: set[_Subscriber] = set()
        # Who may want an event, by what it names: its ticket, its owner, or every ticket (staff).
        self._by_ticket: dict[int, set[_Subscriber]] = {}
        self._by_owner: dict[str, set[_Subscriber]] = {}
        self._all_tickets: set[_Subscriber] = set()
        self._order: EventOrder | None = None  # from the log, on the first successful read
        self._arrived: list[tuple[TicketEvent, str]] = []  # messages not yet ordered
        self._must_read = True  # a message may have been missed: read the log
        self._heard = time.monotonic()  # when the last message came
        self._settle_delay = SETTLE_FIRST  # while a log read waits on transactions in progress,
        self._settle_at = 0.0  # the log is read again then
        self._wake = asyncio.Event()
        self.delivered = 0
        self.log_reads = 0
        self._tasks: list[asyncio.Task[None]] = []
        # Read marks travel beside the events, with the same lifetime (readStateChanged).
        self.read_marks = ReadMarkFeed(broker)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def cursor(self) -> int | None:
        """Every event up to this id has been handed out (None until the log was first read)."""
        return None if self._order is None else self._order.cursor

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
        await follow(self._broker, channel(), self._received, connected=self._reconnected)

    def _received(self, data: bytes) -> None:
        self._heard = time.monotonic()
        event = from_message(data)
        if event is None:
            self._must_read = True  # a message without its event: read it from the log
        else:
            self._arrived.append(event)
        self._wake.set()

    def _reconnected(self) -> None:
        self._must_read = True
        self._wake.set()

    def _next_wait(self) -> float:
        """Seconds until the log is to be read unless a message comes first."""
        order = self._order
        now = time.monotonic()
        wait = self._heard + self._poll_seconds - now  # a quiet broker: poll
        if order is not None and order.settling:  # read again on the settling schedule
            wait = min(wait, self._settle_at - now)
        elif order is not None and order.gap_since is not None:
            wait = min(wait, order.gap_since + self._gap_grace - now)
        return max(0.0, wait)

    async def _deliver(self) -> None:
        unavailable_since: float | None = None  # an outage is logged when it starts and ends
        while True:
            due = True  # the wait ran out: time to read the log
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the wake-up does, and the feed would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_wait()):
                    await self._wake.wait()
                    due = False
            self._wake.clear()
            try:
                await self._advance(read=due or self._must_read)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._must_read = True
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

    async def _advance(self, *, read: bool) -> None:
        """Order what arrived; read the log when a message may be missing."""
        if self._order is None:
            await self._ensure_cursor()
            self._must_read = False
        order = self._order
        assert order is not None
        arrived, self._arrived = self._arrived, []
        for event, owner_id in arrived:
            self._dispatch(order.arrived(event, owner_id))
        if not read:
            return
        self._must_read = False
        self._heard = time.monotonic()
        settling = order.settling
        while True:
            self.log_reads += 1
            page = await read_log(order.cursor, BATCH)
            self._dispatch(order.read(page))
            if order.settling or len(page.events) < BATCH:
                break
        # Still waiting on transactions in progress: read again soon, then less and less often.
        again = settling and order.settling
        self._settle_delay = min(self._settle_delay * 2, SETTLE_MOST) if again else SETTLE_FIRST
        self._settle_at = time.monotonic() + self._settle_delay

    def _dispatch(self, events: list[tuple[TicketEvent, str]]) -> None:
        for event, owner_id in events:
            for subscriber in self._candidates(event.ticket_id, owner_id):
                if subscriber.wants(event, owner_id):
                    subscriber.offer(event)
                    self.delivered += 1

    async def _ensure_cursor(self) -> int:
        """Where the feed stands: read once, on the first successful pass (a later read must
        not skip ahead)."""
        if self._order is None:
            cursor = await newest_settled()
            if self._order is None:
                self._order = EventOrder(cursor)
        return self._order.cursor

    async def events(
        self,
        *,
        viewer: Viewer,
        ticket_id: int | None = None,
        after: int | None = None,
        kinds: Collection[EventKind] | None = None,
        expires_at: float | None = None,
        batch: Callable[[list[TicketEvent]], None] | None = None,
    ) -> AsyncIterator[TicketEvent]:
        """Events the viewer may see, in order: first those after `after` from the log, then
        live ones, with no gap and no duplicate. Ends with NotAuthenticated when the token
        expires. `batch` is told of the events about to be yielded one after the other (those
        that were waiting together; one at a time from the log), before the first of them."""
        visible = visibility.tickets(viewer)
        if ticket_id is not None and not await visible.filter(id=ticket_id).exists():
            raise UserInputError.not_found("Ticket", "ticketId")
        subscriber = _Subscriber(viewer, ticket_id, kinds)
        self._add(subscriber)  # before reading the log, so nothing falls between
        try:
            sent = await self._ensure_cursor()
            if after is not None:
                sent = after
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
                        # Up to where the feed stands: later events come through the queue.
                        until = await self._ensure_cursor()
                        async with aclosing(_replay(subscriber, sent, until)) as replay:
                            async for old in replay:
                                if batch is not None:
                                    batch([old])
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
                first = await _next(subscriber, expires_at)
                if first is None:
                    return
                # What came together goes out together: `batch` learns of it before the first.
                waiting = [first, *_drain(subscriber.queue)]
                ended = None in waiting
                ready = [e for e in waiting if e is not None and e.id > sent]
                if ready and batch is not None:
                    batch(ready)
                for event in ready:
                    _yielding()
                    yield event
                    if _withheld():
                        reread = True
                        break
                    sent = event.id
                if reread:
                    await backoff.wait()
                    continue
                if ended:
                    return
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


def _drain(queue: asyncio.Queue[TicketEvent | None]) -> list[TicketEvent | None]:
    """What is waiting in the queue now, without waiting."""
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def _next(subscriber: _Subscriber, expires_at: float | None) -> TicketEvent | None:
    return await before_expiry(subscriber.queue.get, expires_at)


async def _replay(
    subscriber: _Subscriber, after: int, until: int
) -> AsyncGenerator[TicketEvent, None]:
    """Events after the cursor up to `until` (where the feed stands: no event below it can
    still commit) from the log, as the subscriber may see them."""
    query = visibility.events(subscriber.viewer)
    if subscriber.ticket_id is not None:
        query = query.filter(ticket_id=subscriber.ticket_id)
    if subscriber.kinds is not None:
        query = query.filter(kind__in=list(subscriber.kinds))
    cursor = after
    while True:
        batch = await fetch(query.filter(id__gt=cursor, id__lte=until).order_by("id").limit(BATCH))
        for event in batch:
            yield event
        if len(batch) < BATCH:
            return
        cursor = batch[-1].id
