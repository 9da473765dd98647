"""Relay's compiler accepts the published schema as a Relay server's: objects refetch through
`Node` and `node(id:)`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO

SOURCE = """
import { graphql } from "react-relay";

export const ticket = graphql`
  query AppTicketQuery($id: ID!) {
    ticket(id: $id) { id number ...AppTicket_ticket }
    nodes(ids: [$id]) { id ... on Message { body } }
  }
`;

export const fragment = graphql`
  fragment AppTicket_ticket on Ticket @refetchable(queryName: "AppTicketRefetchQuery") {
    id summary owner { id sub name } messages { id body author { id } }
    events { id kind } attachments { id url } pendingRecategorization { id }
    category { id slug }
  }
`;
"""


def test_relay_compiler_refetches_objects_through_node(js_packages: Path, tmp_path: Path) -> None:
    shutil.copy(REPO / "schema.graphql", tmp_path / "schema.graphql")
    (tmp_path / "src" / "__generated__").mkdir(parents=True)
    (tmp_path / "src" / "App.ts").write_text(SOURCE)
    (tmp_path / "relay.config.json").write_text(
        '{"src": "./src", "schema": "./schema.graphql", "language": "typescript",'
        ' "artifactDirectory": "./src/__generated__"}'
    )
    compiler = js_packages / "node_modules" / ".bin" / "relay-compiler"
    done = subprocess.run(
        [str(compiler)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    refetch = (tmp_path / "src" / "__generated__" / "AppTicketRefetchQuery.graphql.ts").read_text()
    assert "node(id: $id)" in refetch
