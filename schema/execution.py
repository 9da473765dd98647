"""A faster path through graphql-core for the common shape of a page: objects read synchronously.

Most fields of a page (ids, numbers, texts, enums, timestamps, the edges of a connection, the
owner and category of a ticket) are read off an object or come from a small synchronous
resolver. graphql-core's general path builds a resolve-info object, wraps the call in
Strawberry's argument conversion and extension chain and walks its completion machinery for
each of them, for each object of a list. Here such a field, and the whole selection below it
when every field in it is of that kind, is resolved and completed by closures compiled once per
operation and variable values and kept on the schema for the next execution.

Anything unusual takes the general path, which then answers and reports errors exactly as it
always does: an awaitable result, a null in a non-null position, a value a scalar refuses, an
exception, an abstract type, `@defer`, resolver middleware or field extensions. The fast walk
calls only synchronous resolvers, which read and do not write, so starting over on the general
path is safe.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import EnumMeta
from inspect import iscoroutine
from typing import Any

import orjson
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined
from graphql.type.scalars import GRAPHQL_MAX_INT, GRAPHQL_MIN_INT
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

DEFINITION = "strawberry-definition"
TYPENAME = "__typename"
PLANS = "_fast_plans"  # kept on the GraphQLSchema: one table per schema


@dataclass(frozen=True, slots=True)
class Plan:
    """How the fast path reads one field: an attribute, or a synchronous resolver."""

    attribute: str | None  # read this attribute when set, else call the resolver
    definition: Any  # the StrawberryField
    info_name: str | None  # the resolver's `info` parameter, if it takes one
    field: GraphQLField


class _Fallback(Exception):
    """The fast walk met something only the general path answers; start the field over."""


def _plain_resolver(definition: Any) -> bool:
    resolver = definition.base_resolver
    return (
        resolver is not None
        and not definition.is_async
        and not definition.extensions
        and resolver.root_parameter is None
        and resolver.parent_parameter is None
        and resolver.self_parameter is not None
    )


def _plan(field: GraphQLField) -> Plan | None:
    definition = (field.extensions or {}).get(DEFINITION)
    if definition is None:
        return None
    if getattr(field.resolve, "_is_default", False):  # no resolver, extension or handler
        return Plan(definition.python_name, definition, None, field)
    if _plain_resolver(definition):
        info = definition.base_resolver.info_parameter
        return Plan(None, definition, None if info is None else info.name, field)
    return None


def _enum_names(type_: Any) -> dict[Any, str] | None:
    """A Strawberry enum's members and the names it answers for them, as its coercion finds them."""
    wrapped = getattr(type_, "wrapped_cls", None)
    if not isinstance(type_, GraphQLEnumType) or not isinstance(wrapped, EnumMeta):
        return None
    names: dict[Any, str] = {}
    member: Any
    for member in wrapped:
        for name, value in type_.values.items():
            if member.value == value.value:
                names[member] = name
                break
        else:
            return None  # a member it cannot answer: the general path raises for it
    return names


def _plan_for(schema: GraphQLSchema, parent: GraphQLObjectType, name: str) -> Plan | None:
    plans: dict[tuple[str, str], Plan | None] = schema.__dict__.setdefault(PLANS, {})
    key = (parent.name, name)
    try:
        return plans[key]
    except KeyError:
        field = parent.fields.get(name)
        plan = plans[key] = None if field is None else _plan(field)
        return plan


# Compiled forms: a field step reads a field off a source, given the parent's path; a completion
# completes a value at a path. Both take the execution context first: compiled steps are shared
# by every execution of the same operation with the same variables.
FieldStep = Callable[[Any, Any, Path | None], Any]
Completion = Callable[[Any, Any, Path | None], Any]
StepKey = tuple[str, Any]  # (parent type, id of the field node or ids of the merged nodes)
COMPILED = "_fast_compiled"  # on the GraphQLSchema: LRU of (operation, variables) → steps
COMPILED_MAX = 512
# Scalars that answer a value of exactly this Python type with the value itself.
EXACT: dict[GraphQLScalarType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


class _Compiled:
    """The steps compiled for one operation and variable values, and what keeps their ids valid."""

    __slots__ = ("keep", "steps")

    def __init__(self, keep: Any) -> None:
        self.keep = keep  # the operation and its fragments: the nodes whose ids are keys
        self.steps: dict[StepKey, FieldStep | None] = {}


def _variables_key(variables: Any) -> bytes | None:
    try:
        return orjson.dumps(variables, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # uploads and other values without a stable form: compiled per request
        return None


def _step_key(parent_type: GraphQLObjectType, details: Any) -> StepKey:
    if len(details) == 1:
        return parent_type.name, id(details[0].node)
    return parent_type.name, tuple([id(d.node) for d in details])


class FastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core keeps bound methods of the context on the context: a reference cycle
        # that holds each operation's whole result until the cycle collector runs. Through a
        # weak reference the context, and all it holds, is freed when the operation ends.
        context = weakref.ref(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=lambda values: context().gather_async_work(values),  # type: ignore[union-attr]
            track=lambda values: context().track_async_work(values),  # type: ignore[union-attr]
        )

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        if position_context is None and not getattr(self.middleware_manager, "middlewares", None):
            step = self._compiled(parent_type, field_details_list)
            if step is not None:
                try:
                    return step(self, source, path.prev)  # steps take their parent's path
                except _Fallback:
                    pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    # Compiling, once per operation and variables for each selection: None when the general
    # path must answer. Each compiled step answers as graphql-core would, or raises _Fallback.

    def _compiled(self, parent_type: GraphQLObjectType, details: Any) -> FieldStep | None:
        try:
            compiled: _Compiled = self.__dict__["_fast_steps"]
        except KeyError:
            compiled = self.__dict__["_fast_steps"] = self._compiled_for_operation()
        key = _step_key(parent_type, details)
        try:
            return compiled.steps[key]
        except KeyError:
            step = compiled.steps[key] = self._compile_field(parent_type, details)
            return step

    def _compiled_for_operation(self) -> _Compiled:
        keep = (self.operation, tuple(self.fragments.values()))
        variables = _variables_key(self.variable_values.coerced)
        if variables is None:
            return _Compiled(keep)
        cache: OrderedDict[tuple[int, bytes], _Compiled] = self.schema.__dict__.setdefault(
            COMPILED, OrderedDict()
        )
        key = (id(self.operation), variables)
        found = cache.get(key)
        if found is not None:  # it holds the operation, so no other operation has this id
            cache.move_to_end(key)
            return found
        found = cache[key] = _Compiled(keep)
        if len(cache) > COMPILED_MAX:
            cache.popitem(last=False)
        return found

    def _compile_field(self, parent_type: GraphQLObjectType, details: Any) -> FieldStep | None:
        node = details[0].node
        name = node.name.value
        if name == TYPENAME:
            type_name = parent_type.name
            return lambda ctx, source, path: type_name
        if any(d.fragment_variable_values is not None for d in details):
            return None
        plan = _plan_for(self.schema, parent_type, name)
        if plan is None:
            return None
        compiled = self._compile_type(plan.field.type, details)
        if compiled is None:
            return None
        complete, leaf = compiled
        key = node.alias.value if node.alias else name
        parent_name = parent_type.name

        if plan.attribute is not None:
            if node.arguments:
                return None
            attribute = plan.attribute
            named = plan.field.type
            named = named.of_type if isinstance(named, GraphQLNonNull) else named
            exact = EXACT.get(named) if isinstance(named, GraphQLScalarType) else None
            if exact is not None:

                def read_exact(ctx: Any, source: Any, path: Path | None) -> Any:
                    value = getattr(source, attribute, Undefined)
                    if type(value) is exact:  # what the scalar answers for it: the value itself
                        return value
                    if value is Undefined:
                        raise _Fallback
                    return complete(ctx, value, path)

                return read_exact

            if named is GraphQLInt:

                def read_int(ctx: Any, source: Any, path: Path | None) -> Any:
                    value = getattr(source, attribute, Undefined)
                    if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
                        return value
                    if value is Undefined:
                        raise _Fallback
                    return complete(ctx, value, path)

                return read_int

            members = _enum_names(named)
            if members is not None:
                enum_class = named.wrapped_cls  # type: ignore[union-attr]

                def read_enum(ctx: Any, source: Any, path: Path | None) -> Any:
                    value = getattr(source, attribute, Undefined)
                    if type(value) is enum_class:
                        return members[value]
                    if value is Undefined:
                        raise _Fallback
                    return complete(ctx, value, path)

                return read_enum

            def read(ctx: Any, source: Any, path: Path | None) -> Any:
                value = getattr(source, attribute, Undefined)
                if value is Undefined:
                    raise _Fallback
                return complete(ctx, value, path if leaf else Path(path, key, parent_name))

            return read

        try:
            arguments = self._arguments(details[0], plan)
        except Exception:  # the general path reports it
            return None
        resolver = plan.definition.base_resolver
        info_name = plan.info_name
        is_awaitable = self.is_awaitable
        info_class = self.schema._strawberry_schema.config.info_class  # type: ignore[attr-defined]
        field = plan.field
        nodes = to_nodes(details)
        definition = plan.definition

        def call(ctx: Any, source: Any, path: Path | None) -> Any:
            field_path = Path(path, key, parent_name)
            try:
                if info_name is None:
                    value = resolver(source, **arguments)
                else:
                    raw = ctx.build_resolve_info(field, nodes, parent_type, field_path)
                    info = info_class(_raw_info=raw, _field=definition)
                    value = resolver(source, **arguments, **{info_name: info})
            except Exception:  # the general path raises it again, with the field's path
                raise _Fallback from None
            if is_awaitable(value):
                if iscoroutine(value):
                    value.close()  # never started; the general path calls the resolver again
                raise _Fallback
            return complete(ctx, value, field_path)

        return call

    def _compile_type(
        self, type_: GraphQLOutputType, details: Any
    ) -> tuple[Completion, bool] | None:
        """How to complete a value of this type, and whether it is a leaf (needs no path)."""
        non_null = isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            serialize = inner.coerce_output_value

            def leaf(ctx: Any, value: Any, path: Path | None) -> Any:
                if value is None:
                    if non_null:
                        raise _Fallback
                    return None
                try:
                    serialized = serialize(value)
                except Exception:
                    raise _Fallback from None
                if serialized is None or serialized is Undefined:
                    raise _Fallback
                return serialized

            return leaf, True

        if isinstance(inner, GraphQLList):
            compiled = self._compile_type(inner.of_type, details)
            if compiled is None:
                return None
            item = compiled[0]

            def items(ctx: Any, value: Any, path: Path | None) -> Any:
                if value is None:
                    if non_null:
                        raise _Fallback
                    return None
                if not isinstance(value, list | tuple):
                    raise _Fallback
                return [item(ctx, v, Path(path, i, None)) for i, v in enumerate(value)]

            return items, False

        if not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None:
            return None
        grouped, new_defer_usages, forbidden = self.collect_subfields(inner, details)
        if new_defer_usages or forbidden:
            return None
        steps = []
        for response_key, sub in grouped.items():
            step = self._compiled(inner, sub)
            if step is None:
                return None
            steps.append((response_key, step))

        def fields(ctx: Any, value: Any, path: Path | None) -> Any:
            if value is None:
                if non_null:
                    raise _Fallback
                return None
            return {response_key: step(ctx, value, path) for response_key, step in steps}

        return fields, False

    def _arguments(self, details: Any, plan: Plan) -> dict[str, Any]:
        """The field's arguments as the resolver takes them."""
        node = details.node
        if not node.arguments and not plan.field.args:
            return {}
        strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]
        return convert_arguments(
            get_argument_values(
                plan.field,
                node,
                self.variable_values,
                details.fragment_variable_values,
                self.hide_suggestions,
            ),
            plan.definition.arguments,
            scalar_registry=strawberry_schema.schema_converter.scalar_registry,
            config=strawberry_schema.config,
        )
