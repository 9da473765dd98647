"""The pages the app serves to browsers: GraphiQL at /graphql and the live dashboard at /dashboard.

Their assets are checked over HTTP (pinned files only, hashes enforced, cached for good, a strict
CSP), and both pages run in headless Chromium (the Debian `chromium`, driven by playwright-core from
tests/js): every request stays on the app's origin, a query typed into GraphiQL runs, the dashboard
follows the API's changes live and resumes its event feed with `after` after a dropped connection.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import IN_CI, REPO, Api, Backend, serve
from tests.fixtures import REPLY, create_ticket
from tests.workflow import EVENTS, TAKE, ok, run

WEB = REPO / "web"
CHROMIUM = Path("/usr/bin/chromium")
MANIFEST = json.loads((WEB / "vendor.json").read_text())["files"]
ASSET = re.compile(r'<(?:script src|link rel="stylesheet" href)="([^"]+)" integrity="([^"]+)"')


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is needed for the browser tests")
    pytest.skip(f"{what} not installed")


@pytest.fixture(scope="session")
def web_assets() -> Path:
    """web/ with its pinned npm packages installed, as `make install` leaves it."""
    if shutil.which("npm") is None:
        _missing("npm")
    if any(not (WEB / "node_modules" / f["package"] / f["path"]).is_file() for f in MANIFEST):
        subprocess.run(
            ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=WEB,
            check=True,
            timeout=300,
        )
    return WEB


@pytest.fixture(scope="session")
def browser(js_packages: Path, web_assets: Path) -> Path:
    """tests/js (playwright-core) and a Chromium to drive."""
    if not CHROMIUM.exists():
        _missing("chromium (apt-get install chromium)")
    return js_packages


def _sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


# --- the assets over HTTP -----------------------------------------------------------------------


def test_the_manifest_pins_what_the_lockfile_installs() -> None:
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    wanted = json.loads((WEB / "package.json").read_text())["dependencies"]
    for entry in MANIFEST:
        assert wanted[entry["package"]] == entry["version"], entry
        assert lock[f"node_modules/{entry['package']}"]["version"] == entry["version"], entry


async def test_graphiql_page_loads_pinned_local_files_only(api: Api, web_assets: Path) -> None:
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status == 200
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "http" not in csp and "unsafe" not in csp
    html = await page.text()
    assets = ASSET.findall(html)
    assert len(assets) == 7
    assert len(re.findall(r"<script|<link rel=\"stylesheet\"", html)) == len(assets)
    assert "<script>" not in html  # nothing inline: the CSP would refuse it
    for url, integrity in assets:
        assert url.startswith("/static/"), url
        response = await api.client.get(url)
        assert response.status == 200, url
        # The bytes served are the ones the page's integrity attribute names.
        assert _sha384(await response.read()) == integrity, url
        if url.startswith("/static/vendor/"):
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_only_listed_files_are_served(api: Api, web_assets: Path) -> None:
    for path in [
        "/static/vendor/react@18.3.1/package.json",
        "/static/vendor/react@18.3.1/umd/react.development.js",
        "/static/vendor/react@17.0.0/umd/react.production.min.js",
        "/static/vendor/react@18.3.1/../../package.json",
        "/static/app/../vendor.json",
        "/static/app/dashboard.html",
    ]:
        response = await api.client.get(path)
        assert response.status == 404, path


def _copy_web(target: Path) -> Path:
    """A copy of web/ with only the pinned files installed."""
    shutil.copytree(WEB, target, ignore=shutil.ignore_patterns("node_modules"))
    for entry in MANIFEST:
        source = WEB / "node_modules" / entry["package"] / entry["path"]
        copied = target / "node_modules" / entry["package"] / entry["path"]
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copied)
    return target


async def test_a_changed_file_is_refused(
    backend: Backend, web_assets: Path, tmp_path: Path
) -> None:
    web = _copy_web(tmp_path / "web")
    react = web / "node_modules/react/umd/react.production.min.js"
    url = "/static/vendor/react@18.3.1/umd/react.production.min.js"
    async with serve(backend, web_dir=str(web)) as client:
        assert (await client.get(url)).status == 200
        react.write_bytes(react.read_bytes().replace(b"React", b"Evil!", 1))
        refused = await client.get(url)
        assert refused.status == 500
        assert refused.headers["Cache-Control"] == "no-store"
        assert b"Evil!" not in await refused.read()


async def test_without_installed_files_the_pages_say_how_to_install_them(
    backend: Backend, tmp_path: Path
) -> None:
    web = tmp_path / "web"
    shutil.copytree(WEB, web, ignore=shutil.ignore_patterns("node_modules"))
    async with serve(backend, web_dir=str(web)) as client:
        for path in ["/graphql", "/dashboard"]:
            page = await client.get(path, headers={"Accept": "text/html"})
            assert page.status == 200
            assert "make install" in await page.text()
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        missing = await client.get("/static/vendor/react@18.3.1/umd/react.production.min.js")
        assert missing.status == 404
        # The API itself is unaffected.
        answer = await client.post("/graphql", json={"query": "{ categories { slug } }"})
        assert answer.status == 200


async def test_without_the_web_folder_the_api_still_serves(
    backend: Backend, tmp_path: Path
) -> None:
    async with serve(backend, web_dir=str(tmp_path / "nowhere")) as client:
        page = await client.get("/dashboard")
        assert page.status == 200
        assert "HELPDESK_WEB_DIR" in await page.text()
        answer = await client.post("/graphql", json={"query": "{ categories { slug } }"})
        assert answer.status == 200


# --- GraphiQL in Chromium -----------------------------------------------------------------------


async def _node(script: Path, *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "node", str(script), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    return json.loads(out.splitlines()[-1])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_graphiql_runs_a_typed_query_with_every_request_on_the_origin(
    api: Api, browser: Path
) -> None:
    base = f"http://127.0.0.1:{api.client.server.port}"
    seen = await _node(
        browser / "graphiql.mjs", base, "{ categories { slug name(locale: EN) } }", "System errors"
    )
    assert "error" not in seen, seen
    assert seen["status"] == 200 and seen["title"] == "Helpdesk GraphiQL"
    assert seen["editor"] == "{ categories { slug name(locale: EN) } }"
    assert json.loads(seen["result"])["data"]["categories"][1] == {
        "slug": "system-errors",
        "name": "System errors",
    }
    assert f"{base}/static/vendor/graphiql@4.1.2/graphiql.min.js" in seen["requests"]
    assert f"{base}/graphql" in seen["requests"][1:]  # the query itself went to the endpoint
    assert {_origin(url) for url in seen["requests"]} == {base}
    assert {_origin(url) for url in seen["sockets"]} <= {base.replace("http", "ws", 1)}
    assert seen["problems"] == []  # no CSP violation, failed load or script error


async def test_graphiql_subscribes_with_the_token_from_its_headers_tab(
    api: Api, browser: Path
) -> None:
    await create_ticket(api, "ann", urgent=True)
    base = f"http://127.0.0.1:{api.client.server.port}"
    headers = json.dumps({"Authorization": f"Bearer {api.token('agent-1', 'agent')}"})
    query = "subscription { ticketStatsChanged { urgentActive } }"
    seen = await _node(browser / "graphiql.mjs", base, query, "urgentActive", headers)
    assert "error" not in seen, seen
    assert json.loads(seen["result"]) == {"data": {"ticketStatsChanged": {"urgentActive": 1}}}
    assert seen["sockets"] == [f"ws://127.0.0.1:{api.client.server.port}/graphql"]
    assert {_origin(url) for url in seen["requests"]} == {base}
    assert seen["problems"] == []


# --- the dashboard in Chromium ------------------------------------------------------------------


class Page:
    """The dashboard in Chromium, stepped through tests/js/dashboard.mjs."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 60)
        assert raw, "the browser script exited"
        return json.loads(raw)

    async def step(self, name: str, **values: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": name, **values}).encode() + b"\n")
        await self.process.stdin.drain()
        answer = await self._line()
        assert "error" not in answer, answer
        return answer

    async def shows(self, selector: str) -> None:
        await self.step("wait", selector=selector)

    async def shows_event(self, event_id: str) -> None:
        await self.shows(f"#feed li[data-event-id={json.dumps(event_id)}]")


@asynccontextmanager
async def dashboard(browser: Path, api: Api) -> AsyncIterator[Page]:
    base = f"http://127.0.0.1:{api.client.server.port}"
    process = await asyncio.create_subprocess_exec(
        "node",
        str(browser / "dashboard.mjs"),
        base,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    page = Page(process)
    try:
        assert await page._line() == {"started": True}
        yield page
        seen = await page.step("seen")
        assert {_origin(url) for url in seen["requests"]} == {base}
        assert seen["problems"] == []
        assert process.stdin is not None
        process.stdin.write(b'{"do": "quit"}\n')
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _event_ids(api: Api) -> list[str]:
    data = await api.gql(EVENTS, {"first": 100}, as_="watcher", role="agent")
    return [edge["node"]["id"] for edge in data["ticketEvents"]["edges"]]


def _bar(status: str, count: int) -> str:
    return f'#status-chart [data-status="{status}"][data-count="{count}"]'


async def test_dashboard_shows_live_figures_and_resumes_its_feed(api: Api, browser: Path) -> None:
    first = await create_ticket(api, "ann", urgent=True)
    second = await create_ticket(api, "ann", categorySlug="system-errors")
    before = await _event_ids(api)
    token = api.token("agent-1", "agent")

    async with dashboard(browser, api) as page:
        opened = await page.step("open")
        assert opened["status"] == 200 and "connect-src 'self'" in opened["csp"]
        state = await page.step("state")
        assert (state["signInShown"], state["boardShown"]) == (True, False)
        await page.step("signIn", token=token)
        await page.shows(_bar("OPEN", 2))
        state = await page.step("state")
        assert state["counts"] == {
            "OPEN": 2,
            "IN_PROGRESS": 0,
            "AWAITING_REPLY": 0,
            "CLOSED": 0,
            "REJECTED": 0,
        }
        assert state["categories"] == {"app-help": 1, "system-errors": 1}
        assert (state["signInShown"], state["boardShown"]) == (False, True)
        assert state["urgent"] == "1"
        assert state["oldestOpen"] == "0 min"
        # The token is kept in this tab only, never in the address.
        assert state["session"] == {"helpdesk.token": token}
        assert token not in state["url"] and "token" not in state["url"]
        assert state["local"] == [] and state["cookies"] == ""
        await page.step("mark")

        # A change made through the API shows without a reload.
        ok(await run(api, TAKE, "agent-1", "agent", ticketId=first["id"]))
        await page.shows(_bar("IN_PROGRESS", 1))
        await page.shows(_bar("OPEN", 1))
        state = await page.step("state")
        assert state["notReloaded"] is True
        taken = [i for i in await _event_ids(api) if i not in before]
        assert taken
        await page.shows_event(taken[-1])

        # The connection drops; while the page cannot reconnect, more happens.
        await page.step("drop")
        reply = await api.gql(
            REPLY, {"input": {"ticketId": second["id"], "body": "Any news?"}}, as_="ann"
        )
        assert reply["replyToTicket"]["errors"] == []
        missed = [i for i in await _event_ids(api) if i not in before + taken]
        assert missed
        await page.step("reconnect")
        await page.shows_event(missed[-1])
        ok(await run(api, TAKE, "agent-1", "agent", ticketId=second["id"]))
        after = [i for i in await _event_ids(api) if i not in before]
        await page.shows_event(after[-1])

        state = await page.step("state")
        assert state["feed"] == after  # every event once, in order: none missed, none twice
        assert state["notReloaded"] is True
        subscribed = [
            message["payload"]["variables"]
            for message in (await page.step("sent"))["messages"]
            if message["type"] == "subscribe" and "DashboardEvents" in message["payload"]["query"]
        ]
        assert subscribed == [{"after": None}, {"after": taken[-1]}]
