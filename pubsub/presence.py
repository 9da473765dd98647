"""Where presence lives: who holds a ticket open, until when. One interface, swappable backends.

A store keeps, per ticket, *sessions*: an opaque entry (the caller's bytes) that lives until a
moment the caller gives and renews (a heartbeat). A session that is not renewed lapses by itself,
so a process that dies leaves nothing behind for longer than that. Every call takes the caller's
`now` (seconds since the epoch): the store has no clock of its own, so all processes and the tests
agree on what has lapsed. Caps are checked atomically with the write: a ticket holds at most
`per_ticket` live sessions and a user at most `per_user` across tickets; a session already held is
renewed whatever the caps.

Nothing here is stored in the database: the memory backend keeps it in the process (the embedded
mode, one process), the Redis backend (`pubsub.redis_presence`) in Redis with key expiry, shared
by every process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Caps:
    per_ticket: int
    per_user: int


class PresenceFull(Exception):
    """The session was not added: the ticket, or the user, holds as many as allowed."""

    def __init__(self, scope: Literal["ticket", "user"]) -> None:
        super().__init__(f"presence cap reached per {scope}")
        self.scope: Literal["ticket", "user"] = scope


@dataclass(frozen=True, slots=True)
class Session:
    """A session's address: which ticket, which of its sessions, whose (for the per-user cap)."""

    ticket: str
    session: str
    user: str


@dataclass(frozen=True, slots=True)
class Entry:
    data: bytes
    until: float  # when it lapses unless renewed


class PresenceStore(Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def put(
        self, where: Session, data: bytes, *, now: float, until: float, caps: Caps
    ) -> None:
        """Add or replace the session's entry, live until `until`; PresenceFull when a new
        session would pass a cap."""
        ...

    async def renew(
        self, sessions: Sequence[Session], *, now: float, until: float
    ) -> list[Session]:
        """Extend the sessions to `until` (one round trip for all of them); returns those no
        longer held (removed, or dropped once lapsed), which are not brought back."""
        ...

    async def remove(self, where: Session) -> None: ...

    async def entries(self, ticket: str, *, now: float) -> list[Entry]:
        """The ticket's live sessions (lapsed ones are dropped as they are met)."""
        ...

    async def ping(self) -> bool: ...


class MemoryPresenceStore:
    """One process's presence, in dictionaries."""

    def __init__(self) -> None:
        self._tickets: dict[str, dict[str, Entry]] = {}
        self._users: dict[str, dict[tuple[str, str], float]] = {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._tickets.clear()
        self._users.clear()

    def _prune(self, ticket: str, user: str | None, now: float) -> None:
        sessions = self._tickets.get(ticket)
        if sessions is not None:
            for key in [k for k, e in sessions.items() if e.until <= now]:
                del sessions[key]
            if not sessions:
                del self._tickets[ticket]
        if user is not None and (held := self._users.get(user)) is not None:
            for gone in [k for k, until in held.items() if until <= now]:
                del held[gone]
            if not held:
                del self._users[user]

    async def put(
        self, where: Session, data: bytes, *, now: float, until: float, caps: Caps
    ) -> None:
        self._prune(where.ticket, where.user, now)
        sessions = self._tickets.get(where.ticket, {})
        held = self._users.get(where.user, {})
        if where.session not in sessions:
            if len(sessions) >= caps.per_ticket:
                raise PresenceFull("ticket")
            if len(held) >= caps.per_user:
                raise PresenceFull("user")
        self._tickets.setdefault(where.ticket, {})[where.session] = Entry(data, until)
        self._users.setdefault(where.user, {})[(where.ticket, where.session)] = until

    async def renew(
        self, sessions: Sequence[Session], *, now: float, until: float
    ) -> list[Session]:
        lost = []
        for where in sessions:
            entry = self._tickets.get(where.ticket, {}).get(where.session)
            if entry is None or entry.until <= now:
                lost.append(where)
                continue
            self._tickets[where.ticket][where.session] = Entry(entry.data, until)
            self._users.setdefault(where.user, {})[(where.ticket, where.session)] = until
        return lost

    async def remove(self, where: Session) -> None:
        sessions = self._tickets.get(where.ticket)
        if sessions is not None:
            sessions.pop(where.session, None)
            if not sessions:
                del self._tickets[where.ticket]
        held = self._users.get(where.user)
        if held is not None:
            held.pop((where.ticket, where.session), None)
            if not held:
                del self._users[where.user]

    async def entries(self, ticket: str, *, now: float) -> list[Entry]:
        self._prune(ticket, None, now)
        return list(self._tickets.get(ticket, {}).values())

    async def ping(self) -> bool:
        return True
