"""What the client selected below a field, to read related rows eagerly only when asked for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode


def _fields(selections: Iterable[Any], fragments: dict[str, Any]) -> list[FieldNode]:
    """The fields among these selections, fragments spread out (directives are not applied:
    this only decides what to read ahead)."""
    found: list[FieldNode] = []
    for selection in selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found += _fields(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found += _fields(fragment.selection_set.selections, fragments)
    return found


def _below(fields: Iterable[FieldNode]) -> list[Any]:
    return [s for field in fields if field.selection_set for s in field.selection_set.selections]


def selected(info: Any, *path: str) -> set[str]:
    """GraphQL names of the fields selected at `path` below the current field."""
    raw = info._raw_info
    fragments = raw.fragments
    level = _fields(_below(raw.field_nodes), fragments)
    for name in path:
        level = _fields(_below(f for f in level if f.name.value == name), fragments)
    return {field.name.value for field in level}
