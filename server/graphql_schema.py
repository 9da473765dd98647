"""The GraphQL schema assembled from the resolvers' root types and the fast execution path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.subscription import Subscription
from schema.execution import FastPathExecutionContext
from schema.scalars import SCALARS


class HelpdeskSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Errors are reported by the error-policy extension; client mistakes are not logged."""


def build_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
    config: StrawberryConfig | None = None,
) -> Any:
    return HelpdeskSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=list(extensions),
        config=config,
        execution_context_class=FastPathExecutionContext,
        scalar_overrides=dict(SCALARS),
    )
