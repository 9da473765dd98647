"""The graphql-http audit suite (the GraphQL-over-HTTP specification's own) against the server:
every MUST and every SHOULD passes; only MAY items may be left as warnings."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.conftest import Api


async def test_graphql_over_http_audit(api: Api, js_packages: Path) -> None:
    url = f"http://127.0.0.1:{api.client.server.port}/graphql"
    process = await asyncio.create_subprocess_exec(
        "node", str(js_packages / "audit.mjs"), url, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    results = json.loads(stdout)
    assert len(results) > 50, results  # the suite ran, all of it
    failed = [r for r in results if r["status"] == "error"]
    assert failed == [], failed
    unmet_should = [r for r in results if r["status"] == "warn" and "SHOULD" in r["name"]]
    assert unmet_should == [], unmet_should
