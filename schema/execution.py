"""A faster path through graphql-core for the common shape of a page: objects read synchronously.

Most fields of a page (ids, numbers, texts, enums, timestamps, the edges of a connection, the
owner and category of a ticket) are read off an object or come from a small synchronous
resolver. graphql-core's general path builds a resolve-info object, wraps the call in
Strawberry's argument conversion and extension chain and walks its completion machinery for
each of them, for each object of a list. Here such a field, and the whole selection below it
when every field in it is of that kind, is resolved and completed by closures compiled once per
operation and variable values and kept on the schema for the next execution.

A field takes the fast path only when Strawberry itself answers it without running anything of
its own around the read: a basic field (no resolver, no extension, no permission class, the
default `getattr` resolver, no exception handler) or a synchronous method resolver without
extensions or permission classes, whose arguments are values it cannot change. An object of a
type that implements an interface is completed here only when it is exactly of that type's class,
which Strawberry's own `is_type_of` accepts without looking further. Every other field
(async resolvers, abstract types, `@defer`, resolver middleware, exception handlers), and the
field above it, is executed by graphql-core as always.

When the fast walk meets a value it does not complete itself (an awaitable, a null in a non-null
position, a value a scalar refuses, a resolver's exception), it hands that one position, with the
value it already has, to graphql-core's own completion and error handling, and carries on with
the rest: no resolver is called twice, and errors, nulls and paths are the general path's.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum, EnumMeta
from types import CoroutineType
from typing import Any
from uuid import UUID

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
from strawberry.types.cast import get_strawberry_type_cast

DEFINITION = "strawberry-definition"
TYPENAME = "__typename"
PLANS = "_fast_plans"  # kept on the GraphQLSchema: one table per schema
# What Strawberry names the resolver it gives a basic field: it reads the attribute with the
# configured default resolver and nothing else (no info, no extensions, no exception handlers).
BASIC_RESOLVER = "_get_basic_result"


@dataclass(slots=True)
class FastPathStats:
    """How often the fast path answered a field of an operation, and how often it handed one
    position (a value it does not complete itself) to graphql-core's general path."""

    answered: int = 0
    handed_over: int = 0


# Counters only, for tests and diagnostics: no request's data is kept here.
STATS = FastPathStats()


@dataclass(frozen=True, slots=True)
class Plan:
    """How the fast path reads one field: an attribute, or a synchronous resolver."""

    attribute: str | None  # read this attribute when set, else call the resolver
    definition: Any  # the StrawberryField
    info_name: str | None  # the resolver's `info` parameter, if it takes one
    field: GraphQLField


def _basic(definition: Any, field: GraphQLField, config: Any) -> bool:
    """Strawberry's own basic field: its resolver only reads the attribute off the source."""
    return (
        definition.is_basic_field
        and not definition.permission_classes
        and config.default_resolver is getattr
        and getattr(field.resolve, "__name__", None) == BASIC_RESOLVER
    )


def _plain_resolver(definition: Any) -> bool:
    resolver = definition.base_resolver
    return (
        resolver is not None
        and not definition.is_async
        and not definition.extensions
        and not definition.permission_classes
        and resolver.root_parameter is None
        and resolver.parent_parameter is None
        and resolver.self_parameter is not None
    )


def _plan(schema: GraphQLSchema, field: GraphQLField) -> Plan | None:
    definition = (field.extensions or {}).get(DEFINITION)
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if definition is None or strawberry_schema is None:
        return None
    if strawberry_schema.exception_handlers:  # they may answer for a resolver's exception
        return None
    if _basic(definition, field, strawberry_schema.config):
        return Plan(definition.python_name, definition, None, field)
    if _plain_resolver(definition):
        info = definition.base_resolver.info_parameter
        return Plan(None, definition, None if info is None else info.name, field)
    return None


def _own_class(type_: GraphQLObjectType) -> type | None:
    """For an object type with Strawberry's own `is_type_of` (one it gives every type that
    implements an interface), the class whose instances that check accepts without looking
    further: an instance of exactly this class, not cast to another type. None otherwise."""
    definition = (type_.extensions or {}).get(DEFINITION)
    if (
        type_.is_type_of is None
        or definition is None
        or definition.is_type_of is not None  # the type's own check: it may refuse anything
        or definition.concrete_of is not None
        or not definition.interfaces
    ):
        return None
    return definition.origin


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
        plan = plans[key] = None if field is None else _plan(schema, field)
        return plan


# Argument values a resolver cannot change: the only ones compiled steps may keep.
IMMUTABLE = (str, int, float, bool, type(None), Enum, datetime, date, time, Decimal, UUID)


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple | frozenset):
        return all(_immutable(v) for v in value)
    return isinstance(value, IMMUTABLE)


class _Fallback(Exception):
    """A completion met a value of its own position it does not complete itself; the field or
    list item around it hands that value to the general path. It never crosses a field."""


# Compiled forms: a field step reads a field off a source, given the parent's path; a completion
# completes a value at a path. Both take the execution context first: compiled steps are shared
# by every execution of the same operation with the same variables, and keep nothing mutable.
FieldStep = Callable[[Any, Any, Path | None], Any]
Completion = Callable[[Any, Any, Path | None], Any]
StepKey = tuple[str, Any]  # (parent type, id of the field node or ids of the merged nodes)
COMPILED = "_fast_compiled"  # on the GraphQLSchema: LRU of (operation, variables) → steps
COMPILED_MAX = 512
# Scalars that answer a value of exactly this Python type with the value itself.
EXACT: dict[GraphQLScalarType, type] = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool}


@dataclass(frozen=True, slots=True)
class _Position:
    """A field as graphql-core's general path needs it to complete a value or report an error."""

    field: GraphQLField
    parent_type: GraphQLObjectType
    details: Any  # graphql-core's field details list
    nodes: list[Any]


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


def _field_path(path: Path) -> Path:
    """The path of the field a list item belongs to."""
    while isinstance(path.key, int) and path.prev is not None:
        path = path.prev
    return path


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
        # Awaitables the fast walk made in this execution, in order, each with whether it is a
        # coroutine of the fast walk's own (closed when abandoned) or work to settle.
        self._fast_pending: list[tuple[Awaitable[Any], bool]] = []

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
                STATS.answered += 1
                return step(self, source, path.prev)  # steps take their parent's path
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    # Handing one position to the general path: graphql-core completes the value the fast walk
    # already has, reports its errors and propagates nulls exactly as it always does.

    def _hand_over(self, position: _Position, value: Any, path: Path) -> Any:
        STATS.handed_over += 1
        return_type = position.field.type
        info = self.build_resolve_info(position.field, position.nodes, position.parent_type, path)
        completed: Any
        try:
            if self.is_awaitable(value):
                completed = self.complete_awaitable_value(
                    return_type, position.details, info, path, value, None
                )
                self._fast_pending.append((completed, False))
                return completed
            completed = self.complete_value(return_type, position.details, info, path, value, None)
        except Exception as error:
            self.handle_field_error(error, return_type, position.details, path)
            return None
        if self.is_awaitable(completed):
            self._fast_pending.append((completed, False))
            return self._await_field(completed, position, path)
        return completed

    def _hand_over_item(
        self, position: _Position, item_type: Any, item: Any, path: Path, out: list[Any]
    ) -> None:
        STATS.handed_over += 1
        field_path = _field_path(path)
        info = self.build_resolve_info(
            position.field, position.nodes, position.parent_type, field_path
        )
        if self.is_awaitable(item):
            completing = self.complete_awaitable_list_item_value(
                item, item_type, position.details, info, path, None
            )
            out.append(completing)
            self._fast_pending.append((completing, False))
        elif self.complete_list_item_value(
            item, out, item_type, position.details, info, path, None
        ):
            self._fast_pending.append((out[-1], False))

    def _field_error(self, error: Exception, position: _Position, path: Path) -> None:
        self.handle_field_error(error, position.field.type, position.details, path)

    def _await_field(self, completed: Any, position: _Position, path: Path) -> Any:
        async def await_field() -> Any:
            try:
                return await completed
            except Exception as error:
                self.handle_field_error(error, position.field.type, position.details, path)
                return None

        waiting = await_field()
        self._fast_pending.append((waiting, True))  # what it awaits is already listed
        return waiting

    def _abandon(self, mark: int) -> None:
        """A null propagates past awaitables made since `mark`: dispose of them, as
        graphql-core settles its own in that case."""
        pending = self._fast_pending
        work = []
        for awaitable, own in pending[mark:]:
            if own:
                awaitable.close()  # type: ignore[attr-defined]
            else:
                work.append(awaitable)
        del pending[mark:]
        if work:
            self.settle_in_background(work)

    def _own(self, awaitable: Any) -> Any:
        self._fast_pending.append((awaitable, True))
        return awaitable

    # Compiling, once per operation and variables for each selection: None when the general
    # path must answer.

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
        if plan.attribute is not None and node.arguments:
            return None
        position = _Position(plan.field, parent_type, details, to_nodes(details))
        compiled = self._compile_type(plan.field.type, details, position)
        if compiled is None:
            return None
        complete, leaf = compiled
        key = node.alias.value if node.alias else name
        parent_name = parent_type.name

        if plan.attribute is not None:
            return self._compile_read(plan, position, complete, leaf, key, parent_name)
        return self._compile_call(plan, position, complete, leaf, key, parent_name)

    def _compile_read(
        self,
        plan: Plan,
        position: _Position,
        complete: Completion,
        leaf: bool,
        key: str,
        parent_name: str,
    ) -> FieldStep:
        """A basic field: `getattr`, as Strawberry's default resolver reads it."""
        attribute = plan.attribute
        named = plan.field.type
        named = named.of_type if isinstance(named, GraphQLNonNull) else named
        exact = EXACT.get(named) if isinstance(named, GraphQLScalarType) else None

        def finish(ctx: Any, value: Any, path: Path | None) -> Any:
            """A value that is not one of the common cases: complete it with care."""
            field_path = Path(path, key, parent_name)
            if ctx.is_awaitable(value):
                return ctx._hand_over(position, value, field_path)
            try:
                completed = complete(ctx, value, field_path)
            except _Fallback:
                return ctx._hand_over(position, value, field_path)
            except Exception as error:  # a non-null field below is null: so is this one
                ctx._field_error(error, position, field_path)
                return None
            if leaf or type(completed) is not CoroutineType:
                return completed
            return ctx._await_field(completed, position, field_path)

        def failed(ctx: Any, error: Exception, path: Path | None) -> None:
            ctx._field_error(error, position, Path(path, key, parent_name))

        if exact is not None:

            def read_exact(ctx: Any, source: Any, path: Path | None) -> Any:
                try:
                    value = getattr(source, attribute)  # type: ignore[arg-type]
                except Exception as error:
                    return failed(ctx, error, path)
                if type(value) is exact:  # what the scalar answers for it: the value itself
                    return value
                return finish(ctx, value, path)

            return read_exact

        if named is GraphQLInt:

            def read_int(ctx: Any, source: Any, path: Path | None) -> Any:
                try:
                    value = getattr(source, attribute)  # type: ignore[arg-type]
                except Exception as error:
                    return failed(ctx, error, path)
                if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT:
                    return value
                return finish(ctx, value, path)

            return read_int

        members = _enum_names(named)
        if members is not None:
            enum_class = named.wrapped_cls  # type: ignore[union-attr]

            def read_enum(ctx: Any, source: Any, path: Path | None) -> Any:
                try:
                    value = getattr(source, attribute)  # type: ignore[arg-type]
                except Exception as error:
                    return failed(ctx, error, path)
                if type(value) is enum_class:
                    return members[value]
                return finish(ctx, value, path)

            return read_enum

        def read(ctx: Any, source: Any, path: Path | None) -> Any:
            try:
                value = getattr(source, attribute)  # type: ignore[arg-type]
            except Exception as error:
                return failed(ctx, error, path)
            return finish(ctx, value, path)

        return read

    def _compile_call(
        self,
        plan: Plan,
        position: _Position,
        complete: Completion,
        leaf: bool,
        key: str,
        parent_name: str,
    ) -> FieldStep | None:
        """A synchronous resolver, called as Strawberry calls it."""
        try:
            arguments = self._arguments(position.details[0], plan)
        except Exception:  # the general path reports it
            return None
        if not all(_immutable(v) for v in arguments.values()):
            return None  # values a resolver could change: converted for each call there
        resolver = plan.definition.base_resolver
        info_name = plan.info_name
        info_class = self.schema._strawberry_schema.config.info_class  # type: ignore[attr-defined]
        definition = plan.definition
        field_def = position.field
        nodes = position.nodes
        parent_type = position.parent_type
        is_awaitable = self.is_awaitable

        def call(ctx: Any, source: Any, path: Path | None) -> Any:
            field_path = Path(path, key, parent_name)
            try:
                if info_name is None:
                    value = resolver(source, **arguments)
                else:
                    raw = ctx.build_resolve_info(field_def, nodes, parent_type, field_path)
                    info = info_class(_raw_info=raw, _field=definition)
                    value = resolver(source, **arguments, **{info_name: info})
            except Exception as error:
                ctx._field_error(error, position, field_path)
                return None
            if is_awaitable(value):
                return ctx._hand_over(position, value, field_path)
            try:
                completed = complete(ctx, value, field_path)
            except _Fallback:  # a value to complete with care
                return ctx._hand_over(position, value, field_path)
            except Exception as error:  # a non-null field below is null: so is this one
                ctx._field_error(error, position, field_path)
                return None
            if leaf or type(completed) is not CoroutineType:
                return completed
            return ctx._await_field(completed, position, field_path)

        return call

    def _compile_type(
        self, type_: GraphQLOutputType, details: Any, position: _Position
    ) -> tuple[Completion, bool] | None:
        """How to complete a value of this type, and whether it is a leaf (needs no path).

        A completion raises _Fallback for a value of its own position it does not complete (a
        null where none may be, a value its scalar refuses, anything but a list for a list);
        positions below it, list items and fields, handle their own. An awaitable never reaches
        a completion: the field or list item holding it hands it over first.
        """
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
            item_type = inner.of_type
            compiled = self._compile_type(item_type, details, position)
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
                pending = ctx._fast_pending
                mark = len(pending)
                out: list[Any] = []
                append = out.append
                is_awaitable = ctx.is_awaitable
                try:
                    for index, element in enumerate(value):
                        item_path = Path(path, index, None)
                        if is_awaitable(element):
                            ctx._hand_over_item(position, item_type, element, item_path, out)
                            continue
                        try:
                            append(item(ctx, element, item_path))
                        except _Fallback:
                            ctx._hand_over_item(position, item_type, element, item_path, out)
                        except Exception as error:  # a non-null field below is null
                            ctx.handle_field_error(error, item_type, details, item_path)
                            append(None)
                except Exception:
                    ctx._abandon(mark)
                    raise
                if len(pending) == mark:
                    return out
                return ctx._own(ctx._fast_items(out, item_type, details, path))

            return items, False

        if not isinstance(inner, GraphQLObjectType):
            return None
        exact_type = _own_class(inner)
        if inner.is_type_of is not None and exact_type is None:
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
            if exact_type is not None and (
                type(value) is not exact_type or get_strawberry_type_cast(value) is not None
            ):
                raise _Fallback  # graphql-core asks is_type_of, and reports a mismatch
            pending = ctx._fast_pending
            mark = len(pending)
            try:
                result = {response_key: step(ctx, value, path) for response_key, step in steps}
            except Exception:
                ctx._abandon(mark)
                raise
            if len(pending) == mark:
                return result
            return ctx._own(ctx._fast_fields(result))

        return fields, False

    async def _fast_fields(self, result: dict[str, Any]) -> dict[str, Any]:
        """An object some of whose fields are awaited (graphql-core's execute_fields)."""
        keys = [k for k, v in result.items() if type(v) is CoroutineType]
        values = await self.gather_async_work([result[k] for k in keys])
        result.update(zip(keys, values, strict=True))
        return result

    async def _fast_items(
        self, out: list[Any], item_type: Any, details: Any, path: Path | None
    ) -> list[Any]:
        """A list some of whose items are awaited, each with its own error handling."""

        async def item(awaitable: Any, item_path: Path) -> Any:
            try:
                return await awaitable
            except Exception as error:
                self.handle_field_error(error, item_type, details, item_path)
                return None

        indices = [i for i, v in enumerate(out) if type(v) is CoroutineType]
        values = await self.gather_async_work([item(out[i], Path(path, i, None)) for i in indices])
        for i, value in zip(indices, values, strict=True):
            out[i] = value
        return out

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
