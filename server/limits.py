"""Operation limits, checked before anything executes, over HTTP and WebSocket alike.

Size is bounded while parsing (characters, tokens, comments); shape is bounded while validating
(depth, aliases, root fields, literal page sizes, introspection depth); page sizes given through
variables are checked just before execution. Every refusal is a GraphQL error without a path,
so HTTP answers it as a request error (400 with `application/graphql-response+json`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.language import SKIP
from graphql.language import parse as parse_document
from graphql.validation import ASTValidationRule, MaxIntrospectionDepthRule
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext, ExecutionResult

from services.pagination import MAX_PAGE

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


def limit_error(message: str, limit: str, maximum: int, nodes: Any = None) -> GraphQLError:
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


def limits_rule(limits: QueryLimits) -> type[ASTValidationRule]:
    class OperationLimitsRule(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> Any:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            shapes = _Shapes(fragments, limits.page)
            try:
                for error in _operation_errors(node, shapes, limits):
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
        context.pre_execution_errors = self.validate_document(
            context.schema._schema, context.graphql_document, rules
        )

    def before_execution(self, context: ExecutionContext) -> None:
        """Page sizes given through variables; a refusal is the operation's result."""
        if context.graphql_document is not None:
            errors = variable_page_errors(
                context.graphql_document, context.variables, self.limits.page
            )
            if errors:
                context.result = ExecutionResult(data=None, errors=errors)
