"""The Redis backend of the presence store, shared by every process.

Per ticket, a sorted set of its sessions scored by the moment each lapses and a hash of their
entries; per user, a sorted set of the sessions they hold on any ticket (the per-user cap). Each
write is one script, so a cap is checked and taken atomically; lapsed sessions are dropped by
whichever call meets them, and every key expires by itself shortly after its last session would
lapse, so a process that dies leaves nothing behind. Calls go through the same short timeout and
circuit breaker as the broker: a failure is `BrokerUnavailable`, raised at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pubsub.broker import REDIS_COOLDOWN, REDIS_TIMEOUT
from pubsub.presence import Caps, Entry, PresenceFull, Session
from pubsub.redis import CircuitBreaker, redis_client

_PRUNE = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #lapsed > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  redis.call('HDEL', KEYS[2], unpack(lapsed))
end
"""
# KEYS: ticket sessions, ticket entries, user sessions.
# ARGV: now, until, session, entry, per ticket, per user, user's member, retention (ms).
_PUT = (
    _PRUNE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5]) then return 'ticket' end
  if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[6]) then return 'user' end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[7])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[8]) end
return 'ok'
"""
)
# KEYS: ticket sessions, ticket entries. ARGV: now. Returns entry, until, entry, until, ...
_ENTRIES = (
    _PRUNE
    + """
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local found = {}
for i = 1, #live, 2 do
  found[#found + 1] = redis.call('HGET', KEYS[2], live[i]) or ''
  found[#found + 1] = live[i + 1]
end
return found
"""
)
RETENTION_MARGIN = 1.0  # seconds keys outlive the longest session written to them


class RedisPresenceStore:
    def __init__(
        self,
        url: str,
        *,
        retention: float,
        prefix: str = "helpdesk:presence:",
        timeout: float = REDIS_TIMEOUT,
        cooldown: float = REDIS_COOLDOWN,
    ) -> None:
        self.breaker = CircuitBreaker(name="presence", timeout=timeout, cooldown=cooldown)
        self._redis = redis_client(url, timeout=timeout)
        self._prefix = prefix
        # Every write sets its keys to expire this long after it: no session outlives it, so a
        # key never expires before its sessions have lapsed, and a dead process leaves nothing.
        self._retention_ms = math.ceil((retention + RETENTION_MARGIN) * 1000)
        self._put = self._redis.register_script(_PUT)
        self._entries = self._redis.register_script(_ENTRIES)

    def _keys(self, where: Session) -> list[str]:
        return [*self._ticket_keys(where.ticket), f"{self._prefix}u:{where.user}"]

    def _ticket_keys(self, ticket: str) -> list[str]:
        return [f"{self._prefix}t:{ticket}", f"{self._prefix}e:{ticket}"]

    @staticmethod
    def _member(where: Session) -> str:
        return f"{where.ticket}/{where.session}"

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        await self._redis.aclose()

    async def put(
        self, where: Session, data: bytes, *, now: float, until: float, caps: Caps
    ) -> None:
        args: list[bytes | str | float] = [
            now,
            until,
            where.session,
            data,
            caps.per_ticket,
            caps.per_user,
            self._member(where),
            self._retention_ms,
        ]
        keys = self._keys(where)
        answer = await self.breaker.call(lambda: self._put(keys=keys, args=args))
        if answer in (b"ticket", b"user"):
            raise PresenceFull("ticket" if answer == b"ticket" else "user")

    async def renew(
        self, sessions: Sequence[Session], *, now: float, until: float
    ) -> list[Session]:
        if not sessions:
            return []
        pipe = self._redis.pipeline(transaction=False)
        keys: set[str] = set()
        for where in sessions:
            ticket_sessions, entries, user = self._keys(where)
            # XX: a session removed (or pruned once lapsed) is not brought back here.
            pipe.zadd(ticket_sessions, {where.session: until}, xx=True, ch=True)
            pipe.zadd(user, {self._member(where): until}, xx=True)
            keys.update((ticket_sessions, entries, user))
        for key in keys:
            pipe.pexpire(key, self._retention_ms)
        answers = await self.breaker.call(pipe.execute)
        # CH counts a changed score: none means gone, or renewed to the same moment (a clock that
        # stands still); only those few are looked up.
        unsure = [w for w, changed in zip(sessions, answers[::2], strict=False) if not changed]
        if not unsure:
            return []
        check = self._redis.pipeline(transaction=False)
        for where in unsure:
            check.zscore(self._ticket_keys(where.ticket)[0], where.session)
        scores = await self.breaker.call(check.execute)
        return [where for where, score in zip(unsure, scores, strict=True) if score is None]

    async def remove(self, where: Session) -> None:
        sessions, entries, user = self._keys(where)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(sessions, where.session)
        pipe.hdel(entries, where.session)
        pipe.zrem(user, self._member(where))
        await self.breaker.call(pipe.execute)

    async def entries(self, ticket: str, *, now: float) -> list[Entry]:
        keys = self._ticket_keys(ticket)
        found = await self.breaker.call(lambda: self._entries(keys=keys, args=[now]))
        return [Entry(found[i], float(found[i + 1])) for i in range(0, len(found), 2)]

    async def ping(self) -> bool:
        return bool(await self.breaker.call(self._redis.ping, probe=True))
