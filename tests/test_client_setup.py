"""The README's client setup runs as written: Apollo Client, urql, graphql-codegen with
`tsc --strict`, and relay-compiler, against the running server and the checked-in SDL.

The snippets live in tests/js/clients (the README shows them, tests/test_readme_snippets.py keeps
the two equal); the operations they run are tests/js/clients/operations/*.graphql.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server.cli import main as helpdesk
from tests.conftest import REPO, Api
from tests.fixtures import create_ticket

CLIENT_SECONDS = 60  # a guard against a hung client (within the test timeout), not a measurement


class Run:
    def __init__(self, status: int, lines: list[dict[str, Any]], stderr: str) -> None:
        self.status = status
        self.lines = lines
        self.stderr = stderr

    def step(self, key: str) -> Any:
        found = [line[key] for line in self.lines if key in line]
        assert found, f"no {key!r} in {self.lines}\n{self.stderr}"
        return found[0]

    @property
    def console(self) -> list[str]:
        return [line["console"] for line in self.lines if "console" in line]


async def node(script: Path, *args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        "node",
        # Apollo Client 4 warns (cache data loss, missing fields) only in its development build.
        "--conditions=development",
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out: list[str] = []
    err: list[str] = []

    async def collect(stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        async for raw in stream:
            into.append(raw.decode())

    try:
        await asyncio.wait_for(
            asyncio.gather(
                collect(process.stdout, out), collect(process.stderr, err), process.wait()
            ),
            CLIENT_SECONDS,
        )
    except TimeoutError:
        pytest.fail(f"{script.name} did not finish; it printed:\n{''.join(out + err)}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(raw) for raw in out if raw.strip()]
    assert process.returncode is not None
    return Run(process.returncode, lines, "".join(err))


@pytest.fixture
def possible_types(tmp_path: Path) -> Path:
    path = tmp_path / "possibleTypes.json"
    assert helpdesk(["possible-types", "--output", str(path)]) == 0
    return path


def urls(api: Api) -> tuple[str, str]:
    port = api.client.server.port
    return f"http://127.0.0.1:{port}/graphql", f"ws://127.0.0.1:{port}/graphql"


async def given_three_tickets(api: Api) -> list[dict[str, Any]]:
    await create_ticket(api, "bob", question="Someone else's ticket")
    return [await create_ticket(api, "ann", question=f"Question {n}") for n in range(3)]


async def test_apollo_client_caches_every_answer_without_a_warning(
    api: Api, js_packages: Path, possible_types: Path
) -> None:
    tickets = await given_three_tickets(api)
    newest_first = [t["number"] for t in reversed(tickets)]
    http_url, ws_url = urls(api)

    run = await node(
        js_packages / "clients" / "apollo-check.mjs",
        http_url,
        ws_url,
        api.token("ann"),
        str(possible_types),
    )

    assert run.step("firstPage") == newest_first[:2]
    assert run.step("merged") == newest_first
    assert run.step("hasNextPage") is True
    viewer_can = run.step("viewerCan")
    assert None not in viewer_can, viewer_can  # both selections still readable from the cache
    assert viewer_can[0]["reply"] == {"__typename": "Permission", "allowed": True, "reason": None}
    assert viewer_can[1]["takeIntoWork"]["allowed"] is False
    assert run.step("ticketStats") == [5, 1]  # every status; one category in use
    faq = run.step("faq")
    assert faq[0] and faq[0] == faq[1]
    assert run.step("timeline") == [["TicketEvent", "CREATED"]]
    assert run.step("events") == [
        ["MESSAGE_ADDED", "logged", True],
        ["MESSAGE_ADDED", "live", True],
    ]
    assert run.step("liveStatsCached") is True
    assert run.console == []
    assert run.status == 0, run.lines


async def test_apollo_client_warns_of_lost_data_without_the_cache_policies(
    api: Api, js_packages: Path, possible_types: Path
) -> None:
    await given_three_tickets(api)
    http_url, ws_url = urls(api)

    run = await node(
        js_packages / "clients" / "apollo-check.mjs",
        http_url,
        ws_url,
        api.token("ann"),
        str(possible_types),
        "without-identity",
    )

    assert run.status == 1, (run.lines, run.stderr)
    lost = [line for line in run.console if "Cache data may be lost" in line]
    assert any("viewerCan field of a Ticket object" in line for line in lost), run.console
    assert any("ticketStats field of a Query object" in line for line in lost), run.console


async def test_apollo_client_needs_the_possible_types_for_the_timeline(
    api: Api, js_packages: Path, tmp_path: Path
) -> None:
    await given_three_tickets(api)
    http_url, ws_url = urls(api)
    (tmp_path / "none.json").write_text("{}")

    run = await node(
        js_packages / "clients" / "apollo-check.mjs",
        http_url,
        ws_url,
        api.token("ann"),
        str(tmp_path / "none.json"),
    )

    # The fragment on TimelineItem matches nothing: the entries keep only their __typename.
    assert run.step("timeline") == [["TicketEvent", None]]
    assert "lost its events' fields" in run.step("failed")
    assert run.status == 1


async def test_urql_queries_and_subscribes(api: Api, js_packages: Path) -> None:
    tickets = await given_three_tickets(api)
    http_url, ws_url = urls(api)

    run = await node(js_packages / "clients" / "urql-check.mjs", http_url, ws_url, api.token("ann"))

    assert run.step("page") == [tickets[2]["number"], tickets[1]["number"]]
    assert run.step("events") == [
        ["MESSAGE_ADDED", "logged", True],
        ["MESSAGE_ADDED", "live", True],
    ]
    assert run.console == []
    assert run.status == 0, run.lines


def workspace(js_packages: Path, tmp_path: Path, name: str) -> Path:
    """A copy of tests/js/clients/<name> with the operations and the checked-in SDL, so that
    whatever the tool generates stays in the temporary directory."""
    clients = js_packages / "clients"
    root = tmp_path / name
    shutil.copytree(clients / name, root)
    shutil.copytree(clients / "operations", root / "operations")
    shutil.copy(REPO / "schema.graphql", root / "schema.graphql")
    (root / "node_modules").symlink_to(js_packages / "node_modules", target_is_directory=True)
    return root


def tool(root: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(root / "node_modules" / ".bin" / name), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=CLIENT_SECONDS,
    )


def test_codegen_types_the_operations_and_tsc_strict_accepts_their_use(
    js_packages: Path, tmp_path: Path
) -> None:
    root = workspace(js_packages, tmp_path, "codegen")

    generated = tool(root, "graphql-codegen", "--config", "codegen.ts")
    assert generated.returncode == 0, generated.stdout + generated.stderr
    checked = tool(root, "tsc", "-p", ".")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The check has teeth: DateTime is typed as a string, not as anything.
    (root / "src" / "wrong.ts").write_text(
        'import type { TicketsPageQuery } from "./gql/graphql";\n'
        "type Created = TicketsPageQuery['tickets']['edges'][number]['node']['createdAt'];\n"
        "export const seconds = (at: Created): number => at;\n"
    )
    wrong = tool(root, "tsc", "-p", ".")
    assert wrong.returncode != 0
    assert "Type 'string' is not assignable to type 'number'" in wrong.stdout


def test_codegen_refuses_a_custom_scalar_left_unmapped(js_packages: Path, tmp_path: Path) -> None:
    root = workspace(js_packages, tmp_path, "codegen")
    config = root / "codegen.ts"
    config.write_text(config.read_text().replace(', Upload: "File"', ""))

    generated = tool(root, "graphql-codegen", "--config", "codegen.ts")

    assert generated.returncode != 0
    assert "Unknown scalar type Upload" in generated.stdout + generated.stderr


def test_relay_compiler_accepts_the_fragments_the_pagination_and_refetch_through_node(
    js_packages: Path, tmp_path: Path
) -> None:
    root = workspace(js_packages, tmp_path, "relay")

    compiled = tool(root, "relay-compiler", "--noWatchman", "--output", "quiet-with-errors")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    validated = tool(
        root, "relay-compiler", "--noWatchman", "--validate", "--output", "quiet-with-errors"
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    generated = root / "src" / "__generated__"
    assert (generated / "TicketListPaginationQuery.graphql.ts").exists()
    assert "node(id: $id)" in (generated / "TicketRowRefetchQuery.graphql.ts").read_text()


async def test_clients_read_each_custom_scalars_specification(api: Api) -> None:
    query = "query ($name: String!) { __type(name: $name) { kind specifiedByURL } }"
    for name, url in [
        ("DateTime", "https://datatracker.ietf.org/doc/html/rfc3339"),
        ("Upload", "https://github.com/jaydenseric/graphql-multipart-request-spec"),
    ]:
        data = await api.gql(query, {"name": name})
        assert data["__type"] == {"kind": "SCALAR", "specifiedByURL": url}
