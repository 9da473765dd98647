"""Delivery of committed ticket events between processes: one interface, swappable backends."""

from pubsub.broker import (
    REDIS_COOLDOWN,
    REDIS_TIMEOUT,
    Broker,
    BrokerUnavailable,
    MemoryBroker,
    follow,
)
from pubsub.presence import MemoryPresenceStore, PresenceStore

__all__ = [
    "Broker",
    "BrokerUnavailable",
    "MemoryBroker",
    "MemoryPresenceStore",
    "PresenceStore",
    "broker_from_url",
    "follow",
    "presence_store_from_url",
]


def broker_from_url(
    url: str, *, timeout: float = REDIS_TIMEOUT, cooldown: float = REDIS_COOLDOWN
) -> Broker:
    """`memory://` (the embedded default) or `redis://host:port/db`; for Redis, how long a
    command may take and how long Redis is left alone after a failure (seconds)."""
    if url.startswith("memory://"):
        return MemoryBroker()
    if url.startswith(("redis://", "rediss://")):
        from pubsub.redis import RedisBroker

        return RedisBroker(url, timeout=timeout, cooldown=cooldown)
    raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]!r}")


def presence_store_from_url(
    url: str,
    *,
    retention: float,
    timeout: float = REDIS_TIMEOUT,
    cooldown: float = REDIS_COOLDOWN,
) -> PresenceStore:
    """Where presence lives, chosen like the broker: `memory://` (this process) or `redis://…`
    (shared by every process using that Redis). `retention`: the longest a session lives
    without renewal (seconds)."""
    if url.startswith("memory://"):
        return MemoryPresenceStore()
    if url.startswith(("redis://", "rediss://")):
        from pubsub.redis_presence import RedisPresenceStore

        return RedisPresenceStore(url, retention=retention, timeout=timeout, cooldown=cooldown)
    raise ValueError(f"unsupported presence URL scheme: {url.split(':', 1)[0]!r}")
