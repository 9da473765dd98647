"""Prometheus metrics (one registry per app) and one structured log line per GraphQL operation."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from graphql import GraphQLError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from strawberry.types import ExecutionContext

from pubsub import Broker
from services.availability import unavailable_dependency
from services.errors import INTERNAL_CODE, DomainError, ServiceUnavailable

log = structlog.get_logger("helpdesk.operations")

OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_OPERATION_NAMES = 500
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class CountingBroker:
    """The app's broker, counting what it publishes and what its subscriptions receive."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.published = 0
        self.failed = 0
        self.received = 0

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, channel: str, message: bytes) -> None:
        try:
            await self.inner.publish(channel, message)
        except Exception:
            self.failed += 1
            raise
        self.published += 1

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._counted(channel)

    @asynccontextmanager
    async def _counted(self, channel: str) -> AsyncIterator[AsyncIterator[bytes]]:
        async with self.inner.subscribe(channel) as messages:
            yield self._count(messages)

    async def _count(self, messages: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for message in messages:
            self.received += 1
            yield message

    async def ping(self) -> bool:
        return await self.inner.ping()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "helpdesk_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "helpdesk_http_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.operations = Counter(
            "helpdesk_graphql_operations",
            "GraphQL operations by name, type and outcome (ok, invalid, error, unavailable).",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.operation_seconds = Histogram(
            "helpdesk_graphql_operation_seconds",
            "GraphQL operation latency by name and type.",
            ["operation", "type"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "helpdesk_dependency_up",
            "1 while a dependency (database, broker) answers, 0 while it does not.",
            ["name"],
            registry=self.registry,
        )
        self.sla_scans = Counter(
            "helpdesk_sla_scans",
            "Scans of this process for passed SLA due times, completed.",
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "helpdesk_sla_breaches",
            "Tickets this process marked breached (one SLA_BREACHED event per target).",
            registry=self.registry,
        )
        self._names: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        """Client-chosen names are labels only while well-formed and few (bounded cardinality)."""
        if not name:
            return "anonymous"
        if not OPERATION_NAME.fullmatch(name):
            return "other"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return "other"
            self._names.add(name)
        return name

    def watch(self, collect: Callable[[], Iterator[Any]]) -> None:
        self.registry.register(_Callback(collect))


class _Callback(Collector):
    def __init__(self, collect: Callable[[], Iterator[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Any]:
        yield from self._collect()


def live_families(
    *,
    sockets: int,
    streams: int,
    subscriptions: int,
    published: int,
    failed: int,
    delivered: int,
    received: int,
    statements: int,
    pool: int,
) -> Iterator[Any]:
    yield GaugeMetricFamily(
        "helpdesk_websocket_connections", "Open WebSocket connections.", value=sockets
    )
    yield GaugeMetricFamily(
        "helpdesk_http_subscription_streams", "Open SSE and multipart streams.", value=streams
    )
    yield GaugeMetricFamily(
        "helpdesk_subscriptions", "Active subscriptions in this process.", value=subscriptions
    )
    yield CounterMetricFamily(
        "helpdesk_events_published", "Events published to the broker.", value=published
    )
    yield CounterMetricFamily(
        "helpdesk_events_publish_failures", "Publishes the broker refused.", value=failed
    )
    yield CounterMetricFamily(
        "helpdesk_events_delivered", "Events handed to local subscribers.", value=delivered
    )
    yield CounterMetricFamily(
        "helpdesk_broker_messages_received",
        "Messages this process received from the broker, on every channel it follows.",
        value=received,
    )
    yield CounterMetricFamily(
        "helpdesk_db_statements",
        "Statements this process sent to the database (its background work included; "
        "BEGIN and COMMIT not counted).",
        value=statements,
    )
    yield GaugeMetricFamily(
        "helpdesk_db_connections_in_use", "Database connections checked out.", value=pool
    )


SERVER_CODES = frozenset({INTERNAL_CODE, DomainError.code})  # masked, or a domain error without one


def operation_outcome(execution_context: ExecutionContext, raised: BaseException | None) -> str:
    """ok; invalid (the client's mistake: syntax, validation, limits, domain refusals); error
    (the server's failure); unavailable (a dependency could not be reached: retryable)."""
    if raised is not None and not isinstance(raised, GraphQLError):
        if isinstance(raised, asyncio.CancelledError | GeneratorExit):
            return "ok"  # the client completed its subscription or went away
        return "unavailable" if unavailable_dependency(raised) else "error"
    result = execution_context.result
    errors = [
        *(getattr(result, "errors", None) or ()),
        *(execution_context.pre_execution_errors or ()),
    ]
    codes = {(error.extensions or {}).get("code") for error in errors}
    if ServiceUnavailable.code in codes:
        return "unavailable"
    if codes & SERVER_CODES:
        return "error"
    if errors or raised is not None:
        return "invalid"
    return "ok"


def log_operation(
    metrics: Metrics,
    execution_context: ExecutionContext,
    started: float,
    raised: BaseException | None,
) -> None:
    """One log line and one metric sample for a finished GraphQL operation."""
    context = execution_context.context
    outcome = operation_outcome(execution_context, raised)
    try:
        kind = execution_context.operation_type.value
    except Exception:
        kind = "unknown"
    seconds = time.perf_counter() - started
    name = execution_context.operation_name
    viewer = getattr(context, "viewer", None)
    log.info(
        "operation",
        request_id=getattr(context, "request_id", None),
        user_id=viewer.id if viewer else None,
        operation=name,
        type=kind,
        outcome=outcome,
        duration_ms=round(seconds * 1000, 2),
    )
    label = metrics.operation_label(name)
    metrics.operations.labels(label, kind, outcome).inc()
    metrics.operation_seconds.labels(label, kind).observe(seconds)
