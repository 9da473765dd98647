"""Live events go out whole or not yet.

An event whose fields could not all be resolved because a dependency was unavailable (the
database went away between reading the event and resolving its ticket) is not sent: the
extension sees the execution's errors before they are masked and withholds the event; the task
sending the stream skips that result; the event stream reads the log again from that event, with
backoff, and yields it once it resolves (see `services.live`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, TypeVar

from strawberry.extensions import SchemaExtension

from services.availability import dependency_unavailable
from services.live import begin_delivery, withhold_event

Result = TypeVar("Result")


class WithholdIncompleteEvents(SchemaExtension):
    """Withholds a live event whose execution failed for want of a dependency. Listed before
    the error policy, so it sees the original errors."""

    def on_stream_result(self, result: Any) -> Iterator[None]:
        errors = getattr(result, "errors", None)
        if errors and any(dependency_unavailable(e.original_error) for e in errors):
            withhold_event()
        yield None


async def whole_results(results: AsyncIterator[Result]) -> AsyncGenerator[Result, None]:
    """The stream's results minus those withheld; to be iterated by the task that sends them."""
    delivery = begin_delivery()
    async for result in results:
        if not delivery.withheld:
            yield result
