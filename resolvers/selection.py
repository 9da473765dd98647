"""What the client selected below a field, to read related rows eagerly only when asked for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def _fields(selections: Iterable[Any]) -> list[SelectedField]:
    found: list[SelectedField] = []
    for selection in selections:
        if isinstance(selection, FragmentSpread | InlineFragment):
            found += _fields(selection.selections)
        elif isinstance(selection, SelectedField):
            found.append(selection)
    return found


def selected(info: Any, *path: str) -> set[str]:
    """GraphQL names of the fields selected at `path` below the current field."""
    level = _fields(info.selected_fields)
    level = _fields(s for field in level for s in field.selections)
    for name in path:
        level = _fields(s for field in level if field.name == name for s in field.selections)
    return {field.name for field in level}
