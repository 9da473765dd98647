"""Declarations on fields that code outside the resolvers reads.

`PER_VIEWER` marks a field whose answer depends on who the viewer is, beyond their role (what
they may do, whether something is theirs): `strawberry.field(..., metadata=PER_VIEWER)`. Shared
subscription executions (server/fanout.py) run a selection naming such a field once per viewer
instead of once per role. Visibility (which tickets, messages and events the viewer may see) is
not this: it depends on the role, and for customers on their id, and customers never share with
anyone but themselves.

`PUBLIC` marks a root query field that anyone may read, without a token, and whose answer is the
same for everyone (the Help page's categories and FAQ); every other root field needs a viewer.
HTTP lets shared caches keep answers that read public fields only (server/caching.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from graphql import GraphQLObjectType
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

VIEWER_DEPENDENT = "viewer_dependent"
PER_VIEWER: Mapping[str, Any] = MappingProxyType({VIEWER_DEPENDENT: True})
# A subscription that pushes the state now before any change (and is per viewer): it runs for
# each subscriber, since one joining a running shared execution would miss that first push
# (and a `ticketPresence` subscriber is someone viewing: each one must run).
STATE_FIRST_KEY = "state_first"
STATE_FIRST: Mapping[str, Any] = MappingProxyType({VIEWER_DEPENDENT: True, STATE_FIRST_KEY: True})
# A subscription whose every message is the whole state (the dashboard's figures): it shares an
# execution, and a subscriber who joins one that is running is sent its latest message at once.
WHOLE_STATE_KEY = "whole_state"
WHOLE_STATE: Mapping[str, Any] = MappingProxyType({WHOLE_STATE_KEY: True})
PUBLIC_KEY = "public"
PUBLIC: Mapping[str, Any] = MappingProxyType({PUBLIC_KEY: True})
# Root fields every schema answers, the same for everyone: the type's name and introspection.
INTROSPECTION_FIELDS = frozenset({"__typename", "__schema", "__type"})


def is_viewer_dependent(field: StrawberryField) -> bool:
    return bool(field.metadata.get(VIEWER_DEPENDENT))


def strawberry_fields(schema: Any) -> list[tuple[str, StrawberryField]]:
    """(type name, field) for every field of every object type the schema exposes."""
    found = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            definition = (graphql_field.extensions or {}).get(
                GraphQLCoreConverter.DEFINITION_BACKREF
            )
            if isinstance(definition, StrawberryField):
                found.append((name, definition))
    return found


def viewer_dependent_field_names(schema: Any) -> frozenset[str]:
    """GraphQL names of the fields declared `PER_VIEWER`, on whichever type."""
    return frozenset(
        schema.config.name_converter.get_graphql_name(field)
        for _, field in strawberry_fields(schema)
        if is_viewer_dependent(field)
    )


def public_root_fields(schema: Any) -> frozenset[str]:
    """GraphQL names of the root query fields anyone may read: those declared `PUBLIC`, and
    introspection."""
    query = schema._schema.query_type
    declared = (
        (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        for graphql_field in query.fields.values()
    )
    return INTROSPECTION_FIELDS | {
        schema.config.name_converter.get_graphql_name(field)
        for field in declared
        if isinstance(field, StrawberryField) and field.metadata.get(PUBLIC_KEY)
    }


def state_first_field_names(schema: Any) -> frozenset[str]:
    """GraphQL names of the subscription fields declared `STATE_FIRST`."""
    return _declared(schema, STATE_FIRST_KEY)


def whole_state_field_names(schema: Any) -> frozenset[str]:
    """GraphQL names of the subscription fields declared `WHOLE_STATE`."""
    return _declared(schema, WHOLE_STATE_KEY)


def _declared(schema: Any, key: str) -> frozenset[str]:
    return frozenset(
        schema.config.name_converter.get_graphql_name(field)
        for _, field in strawberry_fields(schema)
        if field.metadata.get(key)
    )
