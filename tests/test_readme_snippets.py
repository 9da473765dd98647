"""The README's client setup is the tested code: each block marked `<!-- snippet: PATH -->` equals
that file, or the part of it between `// #region readme` and `// #endregion readme`."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPET = re.compile(r"<!-- snippet: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)^```$", re.S | re.M)
REGION = re.compile(r"^// #region readme\n(?P<code>.*?)^// #endregion readme$", re.S | re.M)
SNIPPETS = {match["path"]: match["code"] for match in SNIPPET.finditer(README)}
EXPECTED = {
    "tests/js/clients/apollo.mjs",
    "tests/js/clients/urql.mjs",
    "tests/js/clients/codegen/codegen.ts",
    "tests/js/clients/codegen/src/tickets.ts",
    "tests/js/clients/relay/relay.config.json",
    "tests/js/clients/relay/src/TicketList.ts",
}


def shown_part(path: str) -> str:
    text = (REPO / path).read_text(encoding="utf-8")
    regions = list(REGION.finditer(text))
    assert len(regions) <= 1, f"{path}: more than one README region"
    return regions[0]["code"] if regions else text


def test_the_client_setup_shows_every_snippet() -> None:
    assert set(SNIPPETS) == EXPECTED


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_readme_snippet_equals_its_tested_file(path: str) -> None:
    assert SNIPPETS.get(path) == shown_part(path)


def test_every_code_block_of_the_client_setup_is_a_tested_snippet() -> None:
    section = README.split("## Client setup\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```", section, re.M)
    assert len(blocks) == 2 * len(SNIPPETS)
