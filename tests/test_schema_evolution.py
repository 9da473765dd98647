"""Schema evolution: breaking changes need marking; everything public is described."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import build_schema

from server.cli import schema_sdl
from server.schema_check import ALLOW_FILE, SDL_FILE, check, compare, lint
from tests.conftest import IN_CI, REPO

V1 = '''
"""Root."""
type Query {
  """A ticket."""
  ticket(
    """Its id."""
    id: ID!
  ): Ticket
}

"""A ticket."""
type Ticket {
  """Id."""
  id: ID!
  """Summary."""
  summary: String!
}
'''
V2_ADDS = V1.replace(
    "  summary: String!\n", '  summary: String!\n  """New."""\n  urgent: Boolean\n'
)
V2_REMOVES = V1.replace('  """Summary."""\n  summary: String!\n', "")
REMOVED = "FIELD_REMOVED: Field Ticket.summary was removed."


def test_additions_are_not_breaking() -> None:
    assert compare(V1, V2_ADDS, set()) == ([], [], [])


def test_removals_are_breaking_unless_marked() -> None:
    assert compare(V1, V2_REMOVES, set()) == ([REMOVED], [], [])
    assert compare(V1, V2_REMOVES, {REMOVED}) == ([], [REMOVED], [])


def test_lint_names_every_undescribed_type_field_and_argument() -> None:
    bare = "type Query { ticket(id: ID!): Ticket }  type Ticket { id: ID! }"
    assert lint(build_schema(bare)) == [
        "Query",
        "Query.ticket",
        "Query.ticket(id)",
        "Ticket",
        "Ticket.id",
    ]
    assert lint(build_schema(V1)) == []


def test_every_custom_scalar_names_its_specification(repo: Path) -> None:
    unspecified = V1 + '\n"""A moment."""\nscalar Moment\n'
    assert check(unspecified, root=repo).failures == ["custom scalar without @specifiedBy: Moment"]
    specified = unspecified.replace(
        "scalar Moment", 'scalar Moment @specifiedBy(url: "https://example.com/moment")'
    )
    assert check(specified, root=repo).failures == []


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(tmp_path, "init", "-q")
    (tmp_path / SDL_FILE).write_text(V1)
    git(tmp_path, "add", SDL_FILE)
    git(tmp_path, "commit", "-q", "-m", "v1")
    return tmp_path


def test_first_schema_has_nothing_to_break(repo: Path) -> None:
    report = check(V1, root=repo)
    assert report.baseline is None  # the commit that added the file has no parent
    assert report.failures == []


def test_uncommitted_breaking_change_fails_until_marked(repo: Path) -> None:
    (repo / SDL_FILE).write_text(V2_REMOVES)
    report = check(V2_REMOVES, root=repo)
    assert report.baseline == "HEAD"
    assert report.failures == [f"breaking change not marked intended: {REMOVED}"]
    (repo / ALLOW_FILE).write_text(f"# Summaries move to a new type.\n{REMOVED}\n")
    report = check(V2_REMOVES, root=repo)
    assert report.failures == [] and report.allowed == [REMOVED]


def test_committed_breaking_change_stays_checked(repo: Path) -> None:
    (repo / SDL_FILE).write_text(V2_REMOVES)
    git(repo, "commit", "-q", "-am", "drop summary")
    report = check(V2_REMOVES, root=repo)
    assert report.baseline is not None and report.baseline.endswith("^")
    assert report.breaking == [REMOVED]
    (repo / SDL_FILE).write_text(V2_REMOVES + '\n"""Extra."""\nscalar Extra\n')
    git(repo, "commit", "-q", "-am", "add a scalar")
    code = (repo / SDL_FILE).read_text()
    assert check(code, root=repo).breaking == []  # the latest change adds only


def test_the_schema_in_code_passes_the_check() -> None:
    if not (REPO / ".git").exists():
        if IN_CI:
            pytest.fail("CI needs the git history to check schema evolution")
        pytest.skip("not a git checkout")
    report = check(schema_sdl())
    assert report.failures == []
