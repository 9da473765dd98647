"""The API's schema extension: everything that happens around a GraphQL operation, in one place.

Strawberry enters every hook of every extension through context managers of its own on each
operation, which for a page read costs about as much as resolving the page; so the API's
policies share one extension with one hook per stage:

- operation: parse limits first; when the operation is over, the error policy (codes on
  expected errors, the rest masked with the request id) and then the operation log and metrics;
- parse: the parse cache; validate: the limit rules and the validation cache, then page and
  list sizes given through variables;
- execute: the execution deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from server.errors import ApiErrors, Outages
from server.limits import OperationChecks
from server.metrics import Metrics, log_operation


class OperationPipeline(ApiErrors):
    def __init__(
        self, checks: OperationChecks, metrics: Metrics, outages: Outages | None = None
    ) -> None:
        super().__init__(outages)
        self.checks = checks
        self.metrics = metrics

    @classmethod
    def factory(
        cls, checks: OperationChecks, metrics: Metrics, outages: Outages | None = None
    ) -> Callable[[], OperationPipeline]:
        return lambda: cls(checks, metrics, outages)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        self.checks.before_parsing(context)
        started = time.perf_counter()
        raised: BaseException | None = None
        try:
            yield from super().on_operation()  # the error policy, once the operation is over
        except BaseException as exc:  # a syntax error arrives as an exception; it is re-raised
            raised = exc
            raise
        finally:
            log_operation(self.metrics, context, started, raised)

    def on_parse(self) -> Iterator[None]:
        self.checks.parse(self.execution_context)
        yield

    def on_validate(self) -> Iterator[None]:
        self.checks.validate(self.execution_context)
        yield

    def on_execute(self) -> Iterator[None]:
        with self.checks.deadline():
            yield
