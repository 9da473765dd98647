"""The fast path for leaf fields answers exactly as graphql-core's general path does."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import strawberry

from schema.execution import FastLeafExecutionContext


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    id: strawberry.ID
    count: int
    color: Color
    label: str | None
    title: str

    @strawberry.field
    def greeting(self, loud: bool = False) -> str:
        return f"HELLO {self.id}" if loud else f"hello {self.id}"


def items() -> list[Any]:
    good = Item(id=strawberry.ID("1"), count=3, color=Color.BLUE, label=None, title="a")
    broken_count = Item(id=strawberry.ID("2"), count="many", color=Color.RED, label="x", title="b")  # type: ignore[arg-type]
    missing_title = Item(id=strawberry.ID("3"), count=1, color=Color.RED, label="y", title=None)  # type: ignore[arg-type]
    return [good, broken_count, missing_title]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return items()


QUERY = """query($loud: Boolean) {
  items {
    id count color label title
    greeting quiet: greeting(loud: false) shout: greeting(loud: $loud)
  }
}"""


@pytest.mark.parametrize("loud", [True, False])
async def test_fast_and_general_paths_agree(loud: bool) -> None:
    fast = strawberry.Schema(query=Query, execution_context_class=FastLeafExecutionContext)
    general = strawberry.Schema(query=Query)
    results = [
        await schema.execute(QUERY, variable_values={"loud": loud}) for schema in (fast, general)
    ]
    assert results[0].data == results[1].data
    assert [(e.message, e.path) for e in results[0].errors or []] == [
        (e.message, e.path) for e in results[1].errors or []
    ]
    data = results[0].data
    assert data is not None
    first = data["items"][0]
    assert first == {
        "id": "1",
        "count": 3,
        "color": "BLUE",
        "label": None,
        "title": "a",
        "greeting": "hello 1",
        "quiet": "hello 1",
        "shout": "HELLO 1" if loud else "hello 1",
    }
    # A value the scalar refuses and a null in a non-null field: errors with their paths, and
    # the item itself becomes null, as the general path decides.
    assert data["items"][1] is None and data["items"][2] is None
    assert sorted(tuple(e.path or ()) for e in results[0].errors or []) == [
        ("items", 1, "count"),
        ("items", 2, "title"),
    ]
