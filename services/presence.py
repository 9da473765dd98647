"""Presence: who has a ticket open right now, and who is typing in it.

Each `ticketPresence` subscription holds a *session* on its ticket in the presence store
(`pubsub.presence`: in the process, or in Redis shared by every process) for as long as it runs.
The process renews its sessions every third of the heartbeat; a session not renewed lapses by
itself, so the viewers of a process that was killed are gone within one heartbeat. `reportTyping`
holds a typing session of its own that lapses after the typing time. Nothing is written to the
database.

Caps: a ticket holds at most `per_ticket` sessions and a user at most `per_user` (the typing
session counts too); one more is refused with PRESENCE_LIMIT.

Each process keeps a *room* per ticket it has watchers for: one task reads the ticket's sessions
when they change (a change made here, or one announced on the broker by another process), and
again when the next session lapses, and hands the list to every local watcher; each watcher sends
its viewer what it may see, only when that changed. Staff see every person (name, typing,
since); a customer sees only themselves and whether someone from support is typing, never who.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from models import Role
from models.db import background_task, stop_tasks
from pubsub import Broker, BrokerUnavailable, follow
from pubsub.presence import Caps, PresenceFull, PresenceStore, Session
from services import visibility
from services.clock import clock
from services.errors import ErrorCode, FieldError, UserInputError
from services.validation import check_client_mutation_id
from services.viewer import Viewer, before_expiry

log = logging.getLogger("helpdesk.presence")

PRESENCE_CHANNEL = "helpdesk.presence"
RETRY_SECONDS = 1.0  # a room whose read failed (Redis unavailable) reads again after this
TYPING_SESSION = "typing"


@dataclass(frozen=True, slots=True)
class PresenceSettings:
    heartbeat: float = 30.0  # seconds a session lives unless renewed
    typing: float = 5.0  # seconds one reportTyping marks its author as typing
    per_ticket: int = 50  # sessions one ticket holds
    per_user: int = 20  # sessions one user holds, on all tickets


@dataclass(frozen=True, slots=True)
class Present:
    """One person on a ticket, their sessions taken together."""

    user_id: str
    name: str
    role: Role
    typing: bool
    since: datetime

    @property
    def staff(self) -> bool:
        return self.role.is_staff


@dataclass(frozen=True, slots=True)
class PresenceView:
    """What one viewer is shown: the people they may see, and whether support is typing."""

    viewers: tuple[Present, ...]
    agent_typing: bool


def view_for(viewer: Viewer, present: tuple[Present, ...]) -> PresenceView:
    """The people the viewer may see (`visibility.may_see_user`: staff everyone, a customer
    only themselves, never a staff identity), and whether support is typing."""
    agent_typing = any(p.typing and p.staff for p in present)
    shown = tuple(p for p in present if visibility.may_see_user(viewer, p.user_id))
    return PresenceView(shown, agent_typing)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _encode(viewer: Viewer, since: datetime, typing: bool) -> bytes:
    return orjson.dumps(
        {"u": viewer.id, "n": viewer.name, "r": viewer.role.value, "s": _epoch(since), "k": typing}
    )


def _people(entries: list[tuple[dict[str, Any], float]]) -> tuple[Present, ...]:
    """Sessions grouped by person: typing in any, there since the earliest."""
    people: dict[str, Present] = {}
    for data, _ in entries:
        user_id, since = str(data["u"]), datetime.fromtimestamp(float(data["s"]), UTC)
        person = Present(user_id, str(data["n"]), Role(data["r"]), bool(data["k"]), since)
        if (known := people.get(user_id)) is not None:
            person = Present(
                user_id,
                known.name,
                known.role,
                known.typing or person.typing,
                min(known.since, person.since),
            )
        people[user_id] = person
    return tuple(sorted(people.values(), key=lambda p: (p.since, p.user_id)))


@dataclass(eq=False)
class _Room:
    """One ticket's presence as this process last read it, for its local watchers."""

    ticket_id: int
    watchers: int = 0
    present: tuple[Present, ...] = ()
    version: int = 0  # bumped when `present` changes
    asked: int = 0  # reads asked for (a change here or elsewhere) ...
    served: int = 0  # ... and the last one a finished read covers
    updated: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def ask(self) -> int:
        self.asked += 1
        self.wake.set()
        return self.asked

    def publish(self, present: tuple[Present, ...], served: int) -> None:
        if present != self.present:
            self.present = present
            self.version += 1
        self.served = max(self.served, served)
        updated, self.updated = self.updated, asyncio.Event()
        updated.set()


class PresenceHub:
    """One per process: its rooms, its sessions (renewed together), and the broker link."""

    def __init__(
        self, store: PresenceStore, broker: Broker, settings: PresenceSettings | None = None
    ) -> None:
        self.store = store
        self.settings = settings or PresenceSettings()
        self._broker = broker
        self._caps = Caps(self.settings.per_ticket, self.settings.per_user)
        self._origin = uuid.uuid4().hex  # this process, in what it announces
        self._rooms: dict[int, _Room] = {}
        # The viewing sessions this process renews, with their entries.
        self._sessions: dict[Session, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._cleanups: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.store.connect()
        self._tasks = [
            background_task(self._listen(), name="presence-listen"),
            background_task(self._renew(), name="presence-renew"),
        ]

    async def close(self) -> None:
        if self._cleanups:  # the sessions of the streams just ended leave now, not at lapse
            await asyncio.wait(self._cleanups, timeout=1.0)
        rooms = [room.task for room in self._rooms.values() if room.task is not None]
        await stop_tasks(*self._tasks, *rooms, *self._cleanups)
        self._rooms.clear()
        await self.store.close()

    # --- use cases ------------------------------------------------------------------------------

    async def watch(
        self, *, viewer: Viewer, ticket_id: int, expires_at: float | None = None
    ) -> AsyncGenerator[PresenceView, None]:
        """Mark the viewer as viewing the ticket while the stream runs; the people on it as the
        viewer may see them now, then each time that changes. NOT_FOUND for a ticket the viewer
        may not see, PRESENCE_LIMIT over a cap; ends with NotAuthenticated when the token
        expires."""
        await _require_visible(viewer, ticket_id)
        session = Session(str(ticket_id), f"{viewer.id}/{uuid.uuid4().hex}", viewer.id)
        room = self._enter(ticket_id)
        held = False
        try:
            now = clock.now()
            entry = _encode(viewer, now, typing=False)
            await self._put(session, entry, now, self._heartbeat(now))
            self._sessions[session] = entry
            held = True
            wanted = self._changed(ticket_id)
            sent: PresenceView | None = None
            seen = -1
            while True:
                while room.served < wanted or room.version == seen:
                    await before_expiry(room.updated.wait, expires_at)
                seen = room.version
                view = view_for(viewer, room.present)
                if view != sent:
                    sent = view
                    yield view
        finally:
            self._leave(room)
            if held:
                del self._sessions[session]
                self._later(self._remove(session))

    async def report_typing(
        self, *, viewer: Viewer, ticket_id: int, client_mutation_id: str | None = None
    ) -> datetime:
        """The viewer types in a ticket they may see (NOT_FOUND otherwise) for the typing time
        from now; returns when that ends. Counts as a session (PRESENCE_LIMIT over a cap)."""
        errors: list[FieldError] = []
        check_client_mutation_id(client_mutation_id, errors)
        if errors:
            raise UserInputError.many(errors)
        await _require_visible(viewer, ticket_id)
        now = clock.now()
        until = now + timedelta(seconds=self.settings.typing)
        session = Session(str(ticket_id), f"{viewer.id}/{TYPING_SESSION}", viewer.id)
        await self._put(session, _encode(viewer, now, typing=True), now, until)
        self._changed(ticket_id)
        return until

    # --- internals ------------------------------------------------------------------------------

    def _heartbeat(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.heartbeat)

    async def _put(self, session: Session, data: bytes, now: datetime, until: datetime) -> None:
        try:
            await self.store.put(
                session, data, now=_epoch(now), until=_epoch(until), caps=self._caps
            )
        except PresenceFull as full:
            cap = self._caps.per_ticket if full.scope == "ticket" else self._caps.per_user
            where = "on this ticket" if full.scope == "ticket" else "for you"
            raise UserInputError(
                ErrorCode.PRESENCE_LIMIT,
                f"Presence is limited to {cap} open views {where}; close one and retry.",
                "ticketId",
            ) from None

    async def _remove(self, session: Session) -> None:
        try:
            await self.store.remove(session)
        except Exception as exc:  # it lapses by itself within a heartbeat
            log.warning("removing a presence session failed (%s); it will lapse", exc)
        self._changed(int(session.ticket))

    def _later(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run apart from the caller: a stream's cleanup survives the stream's cancellation."""
        task = background_task(coroutine, name="presence-cleanup")
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    def _changed(self, ticket_id: int) -> int:
        """Read the ticket again here, and tell the other processes to (best effort: they read
        it again when the next session lapses anyway)."""
        room = self._rooms.get(ticket_id)
        asked = room.ask() if room is not None else 0
        self._later(self._announce(ticket_id))
        return asked

    async def _announce(self, ticket_id: int) -> None:
        try:
            await self._broker.publish(PRESENCE_CHANNEL, f"{self._origin} {ticket_id}".encode())
        except BrokerUnavailable as exc:
            log.warning("announcing a presence change failed (%s)", exc)

    def _enter(self, ticket_id: int) -> _Room:
        room = self._rooms.get(ticket_id)
        if room is None:
            room = self._rooms[ticket_id] = _Room(ticket_id)
            room.task = background_task(self._follow(room), name=f"presence-room-{ticket_id}")
        room.watchers += 1
        return room

    def _leave(self, room: _Room) -> None:
        room.watchers -= 1
        if room.watchers == 0 and self._rooms.get(room.ticket_id) is room:
            del self._rooms[room.ticket_id]
            if room.task is not None:
                room.task.cancel()

    async def _follow(self, room: _Room) -> None:
        """Read the room's ticket when asked to, and when its next session lapses."""
        while True:
            asked = room.asked
            room.wake.clear()
            lapses: float | None = None
            retry = False
            try:
                now = _epoch(clock.now())
                entries = await self.store.entries(str(room.ticket_id), now=now)
                decoded = [(orjson.loads(e.data), e.until) for e in entries if e.data]
                room.publish(_people(decoded), asked)
                lapses = min((until for _, until in decoded), default=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading presence failed (%s); retrying", exc)
                retry = True
            await self._sleep(room, lapses, retry)

    async def _sleep(self, room: _Room, lapses: float | None, retry: bool) -> None:
        """Until asked to read again, or the next session lapses, or (after a failed read) for
        a moment."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(room.wake.wait())]
        if lapses is not None:
            moment = datetime.fromtimestamp(lapses, UTC)
            waits.append(asyncio.ensure_future(clock.sleep_until(moment)))
        if retry:
            waits.append(asyncio.ensure_future(asyncio.sleep(RETRY_SECONDS)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _listen(self) -> None:
        """Changes announced by other processes: read those tickets again."""
        await follow(self._broker, PRESENCE_CHANNEL, self._announced, connected=self._ask_all)

    def _ask_all(self) -> None:
        for room in self._rooms.values():  # what was missed while away
            room.ask()

    def _announced(self, message: bytes) -> None:
        origin, _, ticket = message.decode(errors="replace").partition(" ")
        if origin == self._origin or not ticket.isdigit():
            return  # our own change, or not an announcement
        found = self._rooms.get(int(ticket))
        if found is not None:
            found.ask()

    async def _renew(self) -> None:
        """Every third of the heartbeat, one round trip renews every session of this process."""
        while True:
            await asyncio.sleep(self.settings.heartbeat / 3)
            now = clock.now()
            until = self._heartbeat(now)
            try:
                lost = await self.store.renew(
                    list(self._sessions), now=_epoch(now), until=_epoch(until)
                )
                # Lapsed meanwhile (Redis was unreachable for a heartbeat): still viewing here.
                for session in lost:
                    if (entry := self._sessions.get(session)) is not None:
                        await self.store.put(
                            session, entry, now=_epoch(now), until=_epoch(until), caps=self._caps
                        )
                        self._changed(int(session.ticket))
            except Exception as exc:
                log.warning("renewing presence failed (%s); retrying", exc)


async def _require_visible(viewer: Viewer, ticket_id: int) -> None:
    if not await visibility.tickets(viewer).filter(id=ticket_id).exists():
        raise UserInputError.not_found("Ticket", "ticketId")
