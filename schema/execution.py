"""A faster path through graphql-core for the most common fields: leaves read off an object.

Most fields of a page (ids, numbers, texts, enums, timestamps) have no resolver: Strawberry reads
the attribute and graphql-core serializes it. The general path builds a resolve-info object and
walks the completion machinery for each of them; here such a field is read and serialized
directly. A leaf with a small synchronous resolver that needs no `info` (a name in the requested
language, say) is called directly too, its arguments converted once per request rather than once
per object. Anything unusual (a null, a value the scalar refuses, resolver middleware) takes the
general path, which reports errors exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

DEFINITION = "strawberry-definition"
_MISSING = object()

# (attribute name or None, the Strawberry field, serializer) of a leaf field this path serves:
# an attribute when a name is given, else a plain resolver; None for any other field.
Plan = tuple[str | None, Any, Callable[[Any], Any]] | None
PLANS = "_fast_leaf_plans"  # kept on the GraphQLSchema: one table per schema


def _plain_resolver(definition: Any) -> bool:
    resolver = definition.base_resolver
    return (
        resolver is not None
        and not definition.is_async
        and not definition.extensions
        and resolver.info_parameter is None
        and resolver.root_parameter is None
        and resolver.parent_parameter is None
        and resolver.self_parameter is not None
    )


def _plan(field: GraphQLField) -> Plan:
    definition = (field.extensions or {}).get(DEFINITION)
    leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if definition is None or not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
        return None
    if getattr(field.resolve, "_is_default", False):  # no resolver, extension or handler
        return definition.python_name, definition, leaf.serialize
    if _plain_resolver(definition):
        return None, definition, leaf.serialize
    return None


def _plan_for(schema: GraphQLSchema, parent: GraphQLObjectType, name: str) -> Plan:
    plans: dict[tuple[str, str], Plan] = schema.__dict__.setdefault(PLANS, {})
    key = (parent.name, name)
    try:
        return plans[key]
    except KeyError:
        field = parent.fields.get(name)
        plan = plans[key] = None if field is None else _plan(field)
        return plan


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        details = field_details_list[0]
        node = details.node
        plan = (
            None
            if getattr(self.middleware_manager, "middlewares", None)
            else _plan_for(self.schema, parent_type, node.name.value)
        )
        if plan is not None:
            attribute, definition, serialize = plan
            try:
                if attribute is not None:
                    value = _MISSING if node.arguments else getattr(source, attribute, _MISSING)
                else:
                    arguments = self._arguments(details, parent_type)
                    value = definition.base_resolver(source, **arguments)
                serialized = Undefined if value is None or value is _MISSING else serialize(value)
            except Exception:  # the general path raises it again, with the field's path
                serialized = Undefined
            if serialized is not Undefined and serialized is not None:
                return serialized
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    def _arguments(self, details: Any, parent_type: GraphQLObjectType) -> dict[str, Any]:
        """The field's arguments as the resolver takes them, converted once per request."""
        memo: dict[int, dict[str, Any]] = self.__dict__.setdefault("_argument_memo", {})
        node = details.node
        found = memo.get(id(node))
        if found is None:
            field = parent_type.fields[node.name.value]
            strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
            found = memo[id(node)] = convert_arguments(
                get_argument_values(
                    field,
                    node,
                    self.variable_values,
                    details.fragment_variable_values,
                    self.hide_suggestions,
                ),
                field.extensions[DEFINITION].arguments,
                scalar_registry=strawberry_schema.schema_converter.scalar_registry,
                config=strawberry_schema.config,
            )
        return found
