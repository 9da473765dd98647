"""The browser pages the app serves itself: GraphiQL (at /graphql) and the live dashboard.

Every byte a page loads comes from this origin. Third-party browser files (React, GraphiQL, the
graphql-ws browser build) are the prebuilt files their npm packages publish, installed in `web/`
with `npm ci` and pinned twice: by `web/package-lock.json` and by `web/vendor.json`, which lists
each served file with its sha384. Only listed files are served, only when their bytes match, and
pages load them with `integrity=` so the browser checks the same hash again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog
from aiohttp import web

log = structlog.get_logger("helpdesk.webui")

VENDOR_PREFIX = "/static/vendor"
APP_PREFIX = "/static/app"
MANIFEST = "vendor.json"
IMMUTABLE = "public, max-age=31536000, immutable"
# Nothing outside this origin; `data:` only for the fonts and icons inlined in GraphiQL's CSS.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}
INSTALL_HINT = (
    "The browser files are not installed. Run <code>make install</code> (needs Node.js and npm), "
    "or <code>npm ci --omit=dev</code> in the <code>web/</code> folder, then reload."
)


def sha384(data: bytes) -> str:
    return base64.b64encode(hashlib.sha384(data).digest()).decode()


@dataclass(frozen=True, slots=True)
class VendorFile:
    """One pinned file of an npm package, as `web/vendor.json` lists it."""

    package: str
    version: str
    path: str
    sha384: str

    @property
    def url(self) -> str:
        return f"{VENDOR_PREFIX}/{self.package}@{self.version}/{self.path}"

    @property
    def key(self) -> str:
        return f"{self.package}@{self.version}/{self.path}"


@dataclass(frozen=True, slots=True)
class AppFile:
    """One of our own page files (`web/static/`), read at start-up."""

    name: str
    body: bytes

    @property
    def url(self) -> str:
        return f"{APP_PREFIX}/{self.name}"

    @property
    def sha384(self) -> str:
        return sha384(self.body)


class Tampered(Exception):
    """A pinned file whose bytes are not the ones pinned."""


class WebAssets:
    """The manifest, our own files and the page templates of one `web/` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.vendor: dict[str, VendorFile] = {}
        self.own: dict[str, AppFile] = {}
        self.templates: dict[str, string.Template] = {}
        if not (root / MANIFEST).is_file():
            # The API serves on; the pages say what is wrong.
            log.warning("no browser pages: the web folder is missing", web_dir=str(root))
            return
        manifest = json.loads((root / MANIFEST).read_text())
        self.vendor = {
            entry.key: entry for entry in (VendorFile(**item) for item in manifest["files"])
        }
        self.own = {
            path.name: AppFile(path.name, path.read_bytes())
            for path in sorted((root / "static").iterdir())
            if path.suffix in CONTENT_TYPES
        }
        self.templates = {
            path.stem: string.Template(path.read_text()) for path in root.glob("*.html")
        }

    def location(self, entry: VendorFile) -> Path:
        return self.root / "node_modules" / entry.package / entry.path

    def missing(self) -> list[VendorFile]:
        return [entry for entry in self.vendor.values() if not self.location(entry).is_file()]

    def read(self, entry: VendorFile) -> bytes:
        """The file's bytes, read now; `Tampered` when they are not the pinned ones."""
        data = self.location(entry).read_bytes()
        if sha384(data) != entry.sha384:
            raise Tampered(entry.key)
        return data

    def find(self, package: str, path: str) -> VendorFile:
        for entry in self.vendor.values():
            if entry.package == package and entry.path == path:
                return entry
        raise KeyError(f"{package}/{path} is not in {MANIFEST}")

    def tags(self, names: list[str]) -> str:
        """`<link>`/`<script>` tags with integrity for vendor (`package:path`) and own files."""
        lines = []
        for name in names:
            package, _, path = name.partition(":")
            if path:
                entry = self.find(package, path)
                url, digest = entry.url, entry.sha384
            else:
                own = self.own[name]
                url, digest = own.url, own.sha384
            attributes = f'integrity="sha384-{digest}" crossorigin="anonymous"'
            if url.endswith(".css"):
                lines.append(f'<link rel="stylesheet" href="{url}" {attributes}>')
            else:
                lines.append(f'<script src="{url}" {attributes}></script>')
        return "\n    ".join(lines)

    def page(self, template: str, names: list[str], **values: str) -> web.Response:
        if not self.templates:
            where = html.escape(str(self.root))
            body = (
                "<!doctype html><title>Helpdesk: no web folder</title>"
                f"<p>No <code>{MANIFEST}</code> in <code>{where}</code>: set HELPDESK_WEB_DIR "
                "to the project's <code>web/</code> folder.</p>"
            )
        elif self.missing():
            body = self.templates["install"].substitute(
                hint=INSTALL_HINT, styles=self.tags(["pages.css"])
            )
        else:
            body = self.templates[template].substitute(tags=self.tags(names), **values)
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )


WEB_ASSETS = web.AppKey("web_assets", WebAssets)

GRAPHIQL_FILES = [
    "graphiql:graphiql.min.css",
    "pages.css",
    "react:umd/react.production.min.js",
    "react-dom:umd/react-dom.production.min.js",
    "graphql-ws:umd/graphql-ws.min.js",
    "graphiql:graphiql.min.js",
    "graphiql.js",
]
DASHBOARD_FILES = ["pages.css", "graphql-ws:umd/graphql-ws.min.js", "dashboard.js"]


def graphiql_page(request: web.Request) -> web.Response:
    """GraphiQL with a fetcher for this endpoint (HTTP, and WebSocket for subscriptions)."""
    return request.app[WEB_ASSETS].page(
        "graphiql", GRAPHIQL_FILES, endpoint=html.escape(request.path, quote=True)
    )


async def dashboard(request: web.Request) -> web.Response:
    return request.app[WEB_ASSETS].page("dashboard", DASHBOARD_FILES)


async def vendor_file(request: web.Request) -> web.Response:
    """A listed file whose bytes match its pin, cached for good; anything else is refused."""
    assets = request.app[WEB_ASSETS]
    entry = assets.vendor.get(request.match_info["key"])
    if entry is None:
        raise web.HTTPNotFound(text="Not a served file.")
    try:
        data = await asyncio.to_thread(assets.read, entry)
    except FileNotFoundError:
        raise web.HTTPNotFound(text="Not installed: run `make install`.") from None
    except Tampered:
        log.error("vendor file does not match its pinned sha384", file=entry.key)
        return web.Response(
            status=500,
            text="This file does not match its pinned hash and is not served.",
            headers={"Cache-Control": "no-store"},
        )
    return web.Response(
        body=data,
        content_type=CONTENT_TYPES[Path(entry.path).suffix],
        charset="utf-8",
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )


async def app_file(request: web.Request) -> web.Response:
    own = request.app[WEB_ASSETS].own.get(request.match_info["name"])
    if own is None:
        raise web.HTTPNotFound(text="Not a served file.")
    return web.Response(
        body=own.body,
        content_type=CONTENT_TYPES[Path(own.name).suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def register(app: web.Application, root: Path) -> None:
    app[WEB_ASSETS] = WebAssets(root)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get(VENDOR_PREFIX + "/{key:.+}", vendor_file)
    app.router.add_get(APP_PREFIX + "/{name}", app_file)


def write_manifest(root: Path) -> None:
    """Pin the files `web/vendor.json` lists to what `npm ci` installed: versions and hashes."""
    path = root / MANIFEST
    manifest = json.loads(path.read_text())
    pinned = []
    for item in manifest["files"]:
        package_dir = root / "node_modules" / item["package"]
        version = json.loads((package_dir / "package.json").read_text())["version"]
        data = (package_dir / item["path"]).read_bytes()
        pinned.append({**item, "version": version, "sha384": sha384(data)})
    path.write_text(json.dumps({**manifest, "files": pinned}, indent=2) + "\n")


if __name__ == "__main__":
    write_manifest(Path(sys.argv[1] if len(sys.argv) > 1 else "web"))
