"""Error policy: domain errors keep their code; an unreachable dependency is SERVICE_UNAVAILABLE
(retryable, logged once per outage); anything else unexpected is masked and logged."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from models.db import background_task, stop_tasks
from server.metrics import Metrics
from services.availability import unavailable_dependency
from services.errors import (
    INTERNAL_CODE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_MESSAGE,
    DomainError,
    ServiceUnavailable,
)

log = structlog.get_logger("helpdesk.errors")

INTERNAL_MESSAGE = "Internal server error"
UNAVAILABLE_CODE = ServiceUnavailable.code
REPEAT_LOG_SECONDS = 10.0  # during an outage, at most one short line per dependency this often
PROBE_SECONDS = 1.0  # how often an unreachable dependency is tried until it answers

Probe = Callable[[], Awaitable[bool]]


class Outages:
    """What the process has seen of its dependencies: the `helpdesk_dependency_up` gauge, one
    log line with the traceback when an outage starts, then short rate-limited lines, and one
    when the dependency answers again (probed in the background while it is down)."""

    def __init__(self, metrics: Metrics, probes: Mapping[str, Probe]) -> None:
        self.metrics = metrics
        self.probes = dict(probes)
        self.down: dict[str, float] = {}  # dependency -> when it went down
        self.failures: dict[str, int] = {}  # since the last log line
        self.logged: dict[str, float] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        for name in self.probes:
            metrics.dependency_up.labels(name).set(1)

    def failed(self, dependency: str, exc: BaseException | None, request_id: str | None) -> None:
        now = time.monotonic()
        self.failures[dependency] = self.failures.get(dependency, 0) + 1
        if dependency not in self.down:
            self.down[dependency] = now
            self.metrics.dependency_up.labels(dependency).set(0)
            self.logged[dependency] = now
            self.failures[dependency] = 0
            log.error(
                "dependency unavailable",
                dependency=dependency,
                request_id=request_id,
                exc_info=exc,
            )
            self._probe(dependency)
        elif now - self.logged.get(dependency, 0.0) >= REPEAT_LOG_SECONDS:
            self.logged[dependency] = now
            log.warning(
                "dependency still unavailable",
                dependency=dependency,
                failures=self.failures.pop(dependency),
                down_seconds=round(now - self.down[dependency], 1),
                error=type(exc).__name__ if exc is not None else None,
            )

    def observed(self, dependency: str, up: bool) -> None:
        """A check's answer (readiness, the background probe)."""
        if not up:
            self.failed(dependency, None, None)
            return
        self.metrics.dependency_up.labels(dependency).set(1)
        since = self.down.pop(dependency, None)
        if since is not None:
            log.warning(
                "dependency available again",
                dependency=dependency,
                down_seconds=round(time.monotonic() - since, 1),
                failures=self.failures.pop(dependency, 0),
            )

    def _probe(self, dependency: str) -> None:
        probe = self.probes.get(dependency)
        running = self.tasks.get(dependency)
        if probe is None or (running is not None and not running.done()):
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return

        async def until_up() -> None:
            while dependency in self.down:
                await asyncio.sleep(PROBE_SECONDS)
                up = False
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(PROBE_SECONDS):
                        up = await probe()
                if up:
                    self.observed(dependency, True)

        self.tasks[dependency] = background_task(until_up(), name=f"probe-{dependency}")

    async def close(self) -> None:
        await stop_tasks(*self.tasks.values())
        self.tasks.clear()


def label_request_error(error: GraphQLError) -> None:
    """Errors before execution get a code too: GRAPHQL_PARSE_FAILED or GRAPHQL_VALIDATION_FAILED."""
    if error.path is not None or "code" in (error.extensions or {}):
        return
    syntax = error.message.startswith("Syntax Error")
    code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
    error.extensions = {**(error.extensions or {}), "code": code}


def is_unexpected(error: GraphQLError) -> bool:
    """Whether to mask the error; expected ones get their `extensions.code` on the way.

    An unreachable dependency is masked too (its detail is no client's business), as
    SERVICE_UNAVAILABLE rather than an internal error.
    """
    original = error.original_error
    if original is None:  # syntax, validation and variable errors: the client's own mistakes
        label_request_error(error)
        return False
    if isinstance(original, DomainError) and not isinstance(original, ServiceUnavailable):
        extensions: dict[str, Any] = {"code": original.code}
        error.extensions = {**(error.extensions or {}), **extensions}
        return False
    return not isinstance(original, GraphQLError)


class ApiErrors(MaskErrors):
    """Adds `extensions.code` to expected errors and masks the rest with the request id."""

    def __init__(self, outages: Outages | None = None) -> None:
        # A plain function, not a bound method: the extension holds no reference to itself,
        # so it is freed as soon as its operation ends rather than by the cycle collector.
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)
        self.outages = outages

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        original = error.original_error
        dependency = unavailable_dependency(original) if original is not None else None
        masked = super().anonymise_error(error)
        if dependency is not None:
            if self.outages is not None:
                self.outages.failed(dependency, original, request_id)
            if (retry_after := getattr(context, "retry_after", None)) is not None:
                retry_after(RETRY_AFTER_SECONDS)
            masked.message = UNAVAILABLE_MESSAGE
            masked.extensions = {
                "code": UNAVAILABLE_CODE,
                "retryAfter": RETRY_AFTER_SECONDS,
                "requestId": request_id,
            }
            return masked
        log.error(
            "unexpected error",
            request_id=request_id,
            path=error.path,
            exc_info=original,
        )
        masked.extensions = {"code": INTERNAL_CODE, "requestId": request_id}
        return masked
