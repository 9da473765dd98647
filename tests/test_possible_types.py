"""`helpdesk possible-types`: Apollo Client's possibleTypes, computed from the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from graphql import GraphQLInterfaceType, GraphQLUnionType, build_schema

from server.cli import main, possible_types
from tests.conftest import REPO


def test_possible_types_lists_every_union_and_interface_of_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sdl = build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    expected = {
        name: sorted(t.name for t in sdl.get_possible_types(graphql_type))
        for name, graphql_type in sdl.type_map.items()
        if isinstance(graphql_type, GraphQLUnionType | GraphQLInterfaceType)
        and not name.startswith("__")
    }

    assert main(["possible-types", "--output", str(tmp_path / "possibleTypes.json")]) == 0
    written = json.loads((tmp_path / "possibleTypes.json").read_text(encoding="utf-8"))
    assert main(["possible-types"]) == 0
    printed = json.loads(capsys.readouterr().out)

    assert written == printed == expected
    assert written["TimelineItem"] == ["Message", "TicketEvent"]


def test_possible_types_includes_interfaces_and_their_implementations() -> None:
    schema = build_schema(
        """
        interface Node { id: ID! }
        interface Entry implements Node { id: ID! }
        type Ticket implements Node { id: ID! }
        type Message implements Node & Entry { id: ID! }
        type Event implements Node & Entry { id: ID! }
        union Item = Message | Event
        type Query { node(id: ID!): Node  items: [Item!]!  entries: [Entry!]!  t: Ticket }
        """
    )
    assert possible_types(schema) == {
        "Entry": ["Event", "Message"],
        "Item": ["Event", "Message"],
        "Node": ["Event", "Message", "Ticket"],
    }
