"""Operation limits, checked before anything executes, over HTTP and WebSocket alike.

Size is bounded while parsing (characters, tokens, comments); shape and cost are bounded while
validating (depth, aliases, root fields, literal page sizes, introspection depth, the nodes an
operation may return); page and list sizes given through variables are checked with the
request's variables right after. Every refusal is a GraphQL error without a path, so HTTP
answers it as a request error (400 with `application/graphql-response+json`). Two backstops
bound what still gets through: an execution deadline and a response size cap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql.language import SKIP
from graphql.language import parse as parse_document
from graphql.validation import MaxIntrospectionDepthRule, ValidationRule
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from schema.sizes import ListSize, size_of
from services.pagination import DEFAULT_PAGE, MAX_PAGE

LIMIT_CODE = "QUERY_LIMIT_EXCEEDED"
PAGE_ARGUMENTS = frozenset({"first", "last"})


@dataclass(frozen=True, slots=True)
class QueryLimits:
    depth: int = 10
    aliases: int = 30
    root_fields: int = 20
    tokens: int = 2000
    characters: int = 20_000
    page: int = MAX_PAGE
    nodes: int = 10_000
    seconds: float = 10.0  # execution deadline of a query or mutation, or of one event
    response_bytes: int = 10 * 1024 * 1024
    # Subscriptions at once: per WebSocket, and per viewer over HTTP streams (one each).
    subscriptions: int = 100


def limit_error(message: str, limit: str, maximum: float, nodes: Any = None) -> GraphQLError:
    return GraphQLError(
        message, nodes, extensions={"code": LIMIT_CODE, "limit": limit, "max": maximum}
    )


def page_error(argument: str, value: int, maximum: int, nodes: Any = None) -> GraphQLError:
    return GraphQLError(
        f"{argument} is {value}; pages hold at most {maximum} items.",
        nodes,
        extensions={"code": "VALIDATION", "limit": "page", "max": maximum},
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    depth: int = 0  # levels of fields, this one included
    aliases: int = 0  # aliased fields, fragments counted at every use
    fields: int = 0  # fields at this level, fragments expanded


_EMPTY = _Shape()


class _Shapes:
    """Measures selection sets; each fragment is measured once, cycles and unknowns count zero
    (the standard rules report those)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], page: int) -> None:
        self._fragments = fragments
        self._page = page
        self._done: dict[str, _Shape] = {}
        self._visiting: set[str] = set()
        self.page_errors: list[GraphQLError] = []

    def of(self, selection_set: SelectionSetNode | None) -> _Shape:
        if selection_set is None:
            return _EMPTY
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._check_pages(selection)
                # Introspection is bounded by graphql-core's MaxIntrospectionDepthRule.
                introspection = selection.name.value.startswith("__")
                child = _EMPTY if introspection else self.of(selection.selection_set)
                depth = max(depth, 1 + child.depth)
                aliases += (selection.alias is not None) + child.aliases
                fields += 1
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self._fragment(selection.name.value)
            else:  # pragma: no cover - the grammar has no other selection
                continue
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            fields += inner.fields
        return _Shape(depth, aliases, fields)

    def _fragment(self, name: str) -> _Shape:
        if name in self._done:
            return self._done[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._visiting:
            return _EMPTY
        self._visiting.add(name)
        shape = self.of(definition.selection_set)
        self._visiting.discard(name)
        self._done[name] = shape
        return shape

    def _check_pages(self, field: FieldNode) -> None:
        for argument in field.arguments or ():
            value = argument.value
            if argument.name.value in PAGE_ARGUMENTS and isinstance(value, IntValueNode):
                number = int(value.value)
                if number > self._page:
                    self.page_errors.append(
                        page_error(argument.name.value, number, self._page, [argument])
                    )


# A list field that declares no size (none does today) counts as a full page.
UNDECLARED = ListSize(maximum=MAX_PAGE)
Variables = dict[str, Any]


class NodeCount:
    """The nodes an operation may return, counted on its syntax before it runs.

    Every field of an object type is one node, times the sizes of the lists it sits in; a list
    field counts the size it declares (`schema/sizes.py`): its `first` argument or its fixed
    maximum, and a connection's edges the connection's `first`/`last` (20 when neither is
    given). Fragments count at every use; introspection is bounded apart. With `variables`
    None (while validating) a size given by a variable counts the variable's default, or
    nothing; the operation is counted again before execution, once the values are known.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Variables | None,
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._defaults: Variables = {
            d.variable.name.value: int(d.default_value.value)
            for d in operation.variable_definitions or ()
            if isinstance(d.default_value, IntValueNode)
        }
        self._done: dict[tuple[str, int], int] = {}
        self._visiting: set[str] = set()
        root = schema.get_root_type(operation.operation)
        self.total = 0 if root is None else self.of(root, operation.selection_set, DEFAULT_PAGE)

    def of(self, parent: GraphQLCompositeType, selection_set: SelectionSetNode, page: int) -> int:
        """Nodes below one object of type `parent`, inside a connection of `page` items."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(parent, selection, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = parent if condition is None else self._type(condition.name.value)
                if inner is not None:
                    total += self.of(inner, selection.selection_set, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, page)
        return total

    def _field(self, parent: GraphQLCompositeType, node: FieldNode, page: int) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0
        field = fields.get(name) if fields is not None else None
        if field is None:
            return 0  # the standard rules report it
        type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        named = get_named_type(type_)
        if not is_composite_type(named) or node.selection_set is None:
            return 0
        items = 1
        if isinstance(type_, GraphQLList):
            size = size_of(field.extensions) or UNDECLARED
            if size.from_page:
                items = page
            elif size.argument is not None:
                items = self._size(node, field, size.argument, size)
            else:
                items = size.maximum
        connection = "first" in field.args and not isinstance(type_, GraphQLList)
        child_page = self._page(node, field) if connection else page
        below = self.of(named, node.selection_set, child_page)
        return items * (1 + below)

    def _page(self, node: FieldNode, field: GraphQLField) -> int:
        """A connection's page: its `last` when given, else its `first` (20 by default)."""
        if "last" in field.args:
            last = self._argument(node, "last")
            if last is not None:
                return max(0, min(last, MAX_PAGE))
        first = self._argument(node, "first")
        return DEFAULT_PAGE if first is None else max(0, min(first, MAX_PAGE))

    def _size(self, node: FieldNode, field: GraphQLField, argument: str, size: ListSize) -> int:
        given = self._argument(node, argument)
        if given is None:
            return size.items(None)
        return max(0, min(given, size.maximum))

    def _argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                variable = value.name.value
                if self._variables is None:  # not known yet: counted before execution
                    return self._defaults.get(variable, 0)
                given = self._variables.get(variable, self._defaults.get(variable))
                return given if type(given) is int else None
            return None
        return None

    def _type(self, name: str) -> GraphQLCompositeType | None:
        found = self._schema.get_type(name)
        return found if is_composite_type(found) else None

    def _fragment(self, name: str, page: int) -> int:
        key = (name, page)
        if key in self._done:
            return self._done[key]
        definition = self._fragments.get(name)
        if definition is None or name in self._visiting:
            return 0  # unknown or cyclic: the standard rules report it
        parent = self._type(definition.type_condition.name.value)
        if parent is None:
            return 0
        self._visiting.add(name)
        nodes = self.of(parent, definition.selection_set, page)
        self._visiting.discard(name)
        self._done[key] = nodes
        return nodes


def nodes_error(operation: OperationDefinitionNode, nodes: int, maximum: int) -> GraphQLError:
    name = operation.name.value if operation.name else "anonymous"
    error = limit_error(
        f"Operation '{name}' may return {nodes} nodes; the limit is {maximum}: ask for smaller "
        "pages (first/last) or fewer nested lists.",
        "nodes",
        maximum,
        [operation],
    )
    error.extensions = {**(error.extensions or {}), "nodes": nodes}
    return error


def _fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def node_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    maximum: int,
    variables: Variables | None = None,
    operation_name: str | None = None,
) -> list[GraphQLError]:
    """Operations over the node limit: every one while validating, the one to run when the
    variables are known."""
    fragments = _fragments_of(document)
    errors = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        name = operation.name.value if operation.name else None
        if variables is not None and operation_name is not None and name != operation_name:
            continue
        nodes = NodeCount(schema, fragments, operation, variables).total
        if nodes > maximum:
            errors.append(nodes_error(operation, nodes, maximum))
    return errors


def _int_variables(document: DocumentNode) -> bool:
    """Whether any operation takes an Int variable, which could size a list."""
    return any(
        _named(definition.type) == "Int"
        for operation in document.definitions
        if isinstance(operation, OperationDefinitionNode)
        for definition in operation.variable_definitions or ()
    )


def _named(type_node: Any) -> str:
    while not isinstance(type_node, NamedTypeNode):
        type_node = type_node.type
    return str(type_node.name.value)


def limits_rule(limits: QueryLimits) -> type[ValidationRule]:
    class OperationLimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> Any:
            shapes = _Shapes(_fragments_of(node), limits.page)
            try:
                for error in _operation_errors(node, shapes, limits):
                    self.report_error(error)
                for error in node_errors(self.context.schema, node, limits.nodes):
                    self.report_error(error)
            except RecursionError:
                self.report_error(limit_error("The operation is nested too deeply.", "depth", 0))
            for error in shapes.page_errors:
                self.report_error(error)
            return SKIP

    return OperationLimitsRule


def _operation_errors(
    document: DocumentNode, shapes: _Shapes, limits: QueryLimits
) -> Iterator[GraphQLError]:
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        name = operation.name.value if operation.name else "anonymous"
        shape = shapes.of(operation.selection_set)
        checks = (
            ("depth", shape.depth, limits.depth, "is {} levels deep"),
            ("aliases", shape.aliases, limits.aliases, "uses {} aliases"),
            ("rootFields", shape.fields, limits.root_fields, "selects {} root fields"),
        )
        for limit, value, maximum, what in checks:
            if value > maximum:
                message = f"Operation '{name}' {what.format(value)}; the limit is {maximum}."
                yield limit_error(message, limit, maximum, [operation])


def variable_page_errors(
    document: DocumentNode, variables: dict[str, Any] | None, maximum: int
) -> list[GraphQLError]:
    """Page sizes passed as variables, checked once the variables are known."""
    variables = variables or {}
    if not any(isinstance(v, int) and v > maximum for v in variables.values()):
        return []  # no variable could be an oversized page: nothing to look for
    errors = []
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode):
            for argument in node.arguments or ():
                value = argument.value
                if argument.name.value in PAGE_ARGUMENTS and isinstance(value, VariableNode):
                    given = variables.get(value.name.value)
                    if isinstance(given, int) and given > maximum:
                        errors.append(page_error(argument.name.value, given, maximum, [argument]))
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return errors


def response_too_large(size: int, maximum: int) -> dict[str, Any]:
    """What a client gets instead of an answer over the response size limit."""
    message = f"The response would be {size} bytes; the limit is {maximum}: ask for less."
    extensions = {"code": LIMIT_CODE, "limit": "responseBytes", "max": maximum, "bytes": size}
    return {"errors": [{"message": message, "extensions": extensions}]}


def within_response_limit(payload: Any, maximum: int) -> bytes:
    """The payload as JSON, or the response-size error when that is over `maximum` bytes."""
    body = orjson.dumps(payload)
    if len(body) > maximum:
        return orjson.dumps(response_too_large(len(body), maximum))
    return body


class OperationChecks:
    """`QueryLimits` and the parse and validation caches, applied at each stage of an operation.

    Size limits are parse options; the parse cache is keyed by them, the validation cache by
    the rules, which are created once so that every request presents the same ones.
    """

    def __init__(self, limits: QueryLimits, cache_size: int = 1000) -> None:
        self.limits = limits
        self.rules = (limits_rule(limits), MaxIntrospectionDepthRule)
        self.parse_document = lru_cache(maxsize=cache_size)(parse_document)
        self.validate_document = lru_cache(maxsize=cache_size)(validate_document)

    def before_parsing(self, context: ExecutionContext) -> None:
        options: Any = context.parse_options
        options["max_lexical_tokens"] = self.limits.tokens
        options["max_comments"] = self.limits.tokens
        options["max_source_length"] = self.limits.characters

    def parse(self, context: ExecutionContext) -> None:
        """A document that does not parse is left to the schema, which reports it as a request
        error (a 400, or 4400 on a WebSocket) instead of an exception escaping the operation."""
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.parse_document(context.query, **context.parse_options)

    def validate(self, context: ExecutionContext) -> None:
        context.validation_rules = rules = (*context.validation_rules, *self.rules)
        document = context.graphql_document
        errors = self.validate_document(context.schema._schema, document, rules)
        if not errors and document is not None and _int_variables(document):
            errors = self.variable_errors(context, document)
        context.pre_execution_errors = errors

    def variable_errors(self, context: ExecutionContext, document: DocumentNode) -> list[Any]:
        """Page and list sizes given through variables, known only with the request: refused
        like any other limit, before anything runs (subscriptions included)."""
        errors = variable_page_errors(document, context.variables, self.limits.page)
        if errors:
            return errors
        return node_errors(
            context.schema._schema,
            document,
            self.limits.nodes,
            context.variables or {},
            context.operation_name,
        )

    @contextlib.contextmanager
    def deadline(self) -> Iterator[None]:
        """Cancels the execution when it outlives the limit, and answers it as a typed error.

        Checked whenever the execution awaits (the database, the loaders); a refusal by the
        node limit keeps anything legitimate far below it.
        """
        task = asyncio.current_task()
        if task is None:
            yield
            return
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        seconds = self.limits.seconds
        handle = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if not expired:
                raise  # the client went away, or the server is stopping
            task.uncancel()
            raise limit_error(
                f"The operation ran past the {seconds:g} s limit and was stopped.",
                "time",
                seconds,
            ) from None
        finally:
            handle.cancel()
