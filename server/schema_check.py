"""Schema evolution and lint: what `helpdesk schema-check` and the test suite enforce.

- Breaking changes (graphql-core's `find_breaking_changes`) between the last committed SDL and the
  schema built in code fail unless each is listed, word for word, in `schema-breaking-changes.txt`
  (one `TYPE: description` per line, `#` comments saying why).
- The baseline is `schema.graphql` at HEAD while it has uncommitted changes; otherwise it is the
  version before the last commit that changed it, so the latest change stays checked after it lands.
- Lint: every type, field and argument of the public schema has a description, and every custom
  scalar names the specification its values follow (`@specifiedBy`), for clients to map it.
"""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
)

ROOT = Path(__file__).resolve().parent.parent
SDL_FILE = "schema.graphql"
ALLOW_FILE = "schema-breaking-changes.txt"
BUILT_IN = frozenset({"String", "Int", "Float", "Boolean", "ID"})


@dataclass(frozen=True, slots=True)
class Report:
    baseline: str | None  # the revision compared against; None when there is none yet
    breaking: list[str]
    allowed: list[str]
    dangerous: list[str]
    lint: list[str]
    unspecified: list[str] = dataclasses.field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        unmarked = [f"breaking change not marked intended: {c}" for c in self.breaking]
        return (
            unmarked
            + [f"missing description: {item}" for item in self.lint]
            + [f"custom scalar without @specifiedBy: {name}" for name in self.unspecified]
        )


def lint(schema: GraphQLSchema) -> list[str]:
    missing = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not graphql_type.description:
            missing.append(name)
        for field_name, field in (getattr(graphql_type, "fields", None) or {}).items():
            if not field.description:
                missing.append(f"{name}.{field_name}")
            for arg_name, arg in (getattr(field, "args", None) or {}).items():
                if not arg.description:
                    missing.append(f"{name}.{field_name}({arg_name})")
    return missing


def unspecified_scalars(schema: GraphQLSchema) -> list[str]:
    return [
        name
        for name, graphql_type in schema.type_map.items()
        if isinstance(graphql_type, GraphQLScalarType)
        and not name.startswith("__")
        and name not in BUILT_IN
        and not graphql_type.specified_by_url
    ]


def describe(change: object) -> str:
    return f"{change.type.name}: {change.description}"  # type: ignore[attr-defined]


Changes = tuple[list[str], list[str], list[str]]


def compare(old_sdl: str, new_sdl: str, allowed: set[str]) -> Changes:
    """(unmarked breaking, marked breaking, dangerous) changes from old to new."""
    old, new = build_schema(old_sdl), build_schema(new_sdl)
    breaking = [describe(c) for c in find_breaking_changes(old, new)]
    dangerous = [describe(c) for c in find_dangerous_changes(old, new)]
    return (
        [c for c in breaking if c not in allowed],
        [c for c in breaking if c in allowed],
        dangerous,
    )


def read_allowed(root: Path = ROOT) -> set[str]:
    path = root / ALLOW_FILE
    if not path.exists():
        return set()
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def baseline(root: Path = ROOT) -> tuple[str, str] | None:
    """(revision, SDL) of the last committed schema to compare against, if any."""
    if _git(root, "status", "--porcelain", "--", SDL_FILE).strip():
        revision = "HEAD"
    else:
        last = _git(root, "log", "-n", "1", "--format=%H", "--", SDL_FILE).strip()
        if not last:
            return None
        revision = f"{last}^"
    try:
        return revision, _git(root, "show", f"{revision}:{SDL_FILE}")
    except subprocess.CalledProcessError:
        return None  # the schema's first commit: nothing to break


def check(code_sdl: str, root: Path = ROOT) -> Report:
    base = baseline(root)
    unmarked: list[str] = []
    marked: list[str] = []
    dangerous: list[str] = []
    if base is not None:
        unmarked, marked, dangerous = compare(base[1], code_sdl, read_allowed(root))
    code_schema = build_schema(code_sdl)
    return Report(
        baseline=None if base is None else base[0],
        breaking=unmarked,
        allowed=marked,
        dangerous=dangerous,
        lint=lint(code_schema),
        unspecified=unspecified_scalars(code_schema),
    )
