"""Every field whose answer depends on who the viewer is says so (`schema.metadata.PER_VIEWER`).

Shared subscription executions run once for all staff of a role unless the selection names such
a field, so an undeclared one would show one agent's answer to every other agent. This walks the
schema and reads each resolver's code (and the module's helpers it calls): a resolver reads the
viewer's identity when it touches the viewer in any way other than these, which depend on the role
alone for staff:

- `require_viewer(...)` (signed in or not), `viewer.role`, `viewer.is_staff`;
- handing the viewer on as `viewer=` to the services, which apply visibility (all staff of a role
  see the same; customers never share with anyone but themselves);
- the request's loaders, except a `Loaders` method that reads the viewer itself (`permissions`).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import strawberry

from resolvers.loaders import Loaders
from schema.metadata import PER_VIEWER, is_viewer_dependent, strawberry_fields
from server.graphql_schema import build_schema

ROLE_ONLY = {"role", "is_staff"}


def _loaders_reading_the_viewer() -> frozenset[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(Loaders)))
    (cls,) = tree.body
    assert isinstance(cls, ast.ClassDef)
    return frozenset(
        node.name
        for node in cls.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name != "__init__"
        and any(isinstance(n, ast.Attribute) and n.attr == "_viewer" for n in ast.walk(node))
    )


PER_VIEWER_LOADERS = _loaders_reading_the_viewer()


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _is_viewer(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "viewer") or (
        isinstance(node, ast.Attribute) and node.attr == "viewer"
    )


def _sanctioned(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return True  # viewer = require_viewer(...)
    if isinstance(parent, ast.keyword) and parent.arg == "viewer":
        return True  # handed to a service, which applies visibility
    if isinstance(parent, ast.Attribute) and parent.attr in ROLE_ONLY:
        return True
    return (
        isinstance(parent, ast.Call)
        and isinstance(parent.func, ast.Name)
        and parent.func.id == "require_viewer"
    )


def identity_reads(function: Callable[..., Any], seen: set[Any] | None = None) -> list[str]:
    """How `function` (or a helper of its module it calls) reads who the viewer is."""
    seen = set() if seen is None else seen
    if function in seen:
        return []
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    parents = _parents(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        parent = parents.get(node)
        if _is_viewer(node) and not _sanctioned(node, parent):
            found.append(f"reads {ast.unparse(parent or node)}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr in PER_VIEWER_LOADERS
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "loaders"
        ):
            found.append(f"calls loaders.{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            helper = function.__globals__.get(node.func.id)
            if inspect.isfunction(helper) and helper.__module__ == function.__module__:
                found += identity_reads(helper, seen)
    return found


def undeclared(schema: Any) -> Iterator[str]:
    for type_name, field in strawberry_fields(schema):
        resolver = field.base_resolver
        if resolver is None or is_viewer_dependent(field):
            continue
        reads = identity_reads(resolver.wrapped_func)
        if reads:
            yield f"{type_name}.{field.python_name}: {', '.join(sorted(set(reads)))}"


def test_every_field_that_depends_on_the_viewer_is_declared() -> None:
    assert list(undeclared(build_schema())) == []


def test_the_declared_fields_are_the_ones_the_fan_out_keeps_apart() -> None:
    from schema.metadata import viewer_dependent_field_names

    assert {"viewerCan", "me"} <= viewer_dependent_field_names(build_schema())
    assert "permissions" in PER_VIEWER_LOADERS


# A new field that reads the viewer without the declaration is caught.
@strawberry.type
class _Thing:
    owner_id: str

    @strawberry.field
    def is_mine(self, info: strawberry.Info) -> bool:
        return self.owner_id == info.context.viewer.id

    @strawberry.field
    def can_edit(self, info: strawberry.Info) -> bool:
        return bool(info.context.loaders.permissions(self))

    @strawberry.field(metadata=PER_VIEWER)
    def declared(self, info: strawberry.Info) -> bool:
        return self.owner_id == info.context.viewer.id

    @strawberry.field
    def for_staff(self, info: strawberry.Info) -> bool:
        return bool(info.context.viewer.is_staff)


@strawberry.type
class _Query:
    @strawberry.field
    def thing(self) -> _Thing:
        return _Thing(owner_id="ann")


def test_an_undeclared_field_reading_the_viewer_is_reported() -> None:
    found = list(undeclared(strawberry.Schema(query=_Query)))
    assert [line.split(":")[0] for line in found] == ["Thing.is_mine", "Thing.can_edit"]
