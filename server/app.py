"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import urllib.parse
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import BodyPartReader, WSCloseCode, web
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from strawberry.aiohttp.views import GraphQLView
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import DisableIntrospection, ParserCache, ValidationCache
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLHTTPResponse
from strawberry.types.unset import UNSET, UnsetType

from models import db
from models.storage import IncomingFile, LocalStorage, TooLarge
from pubsub import Broker, broker_from_url
from resolvers.context import Context
from schema.schema import build_schema
from server import auth
from server.config import Settings
from server.errors import ApiErrors
from server.fanout import SharedSubscriptions, SharingHandler
from server.metrics import CountingBroker, Metrics, OperationLog, live_families
from services import attachments
from services.attachments import Limits
from services.errors import NotAuthenticated
from services.live import EventFeed
from services.users import KnownUsers
from services.viewer import Viewer

SETTINGS = web.AppKey("settings", Settings)
BROKER = web.AppKey("broker", Broker)
KNOWN_USERS = web.AppKey("known_users", KnownUsers)
FEED = web.AppKey("feed", EventFeed)
SHARED = web.AppKey("shared_subscriptions", SharedSubscriptions)
METRICS = web.AppKey("metrics", Metrics)
COUNTING = web.AppKey("counting_broker", CountingBroker)
STORAGE = web.AppKey("storage", LocalStorage)
LIMITS = web.AppKey("attachment_limits", Limits)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
REQUEST_ID = web.RequestKey("request_id", str)
VIEWER = web.RequestKey("viewer", Viewer)
TOKEN_EXPIRES = web.RequestKey("token_expires", float)
INCOMING: web.RequestKey[dict[str, IncomingFile]] = web.RequestKey("incoming_files")
FORM_FIELD_MAX = 1024 * 1024

GRAPHQL_RESPONSE = "application/graphql-response+json"
REQUEST_ID_FORMAT = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_log = structlog.get_logger("helpdesk.access")


class HelpdeskView(GraphQLView[Context, None]):
    """Strawberry's aiohttp view with our context, orjson and media-type negotiation."""

    async def get_context(self, request: web.Request, response: Any) -> Context:
        return Context(
            viewer=request.get(VIEWER),
            broker=request.app[BROKER],
            feed=request.app[FEED],
            request_id=request[REQUEST_ID],
            expires_at=request.get(TOKEN_EXPIRES),
            storage=request.app[STORAGE],
            limits=request.app[LIMITS],
            request=request,
            response=response,
        )

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            return await super().__call__(request)
        finally:
            for incoming in request.get(INCOMING, {}).values():
                incoming.discard()  # uploads not stored by a resolver leave nothing behind

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        """GraphQL multipart request, streamed: files go to disk while their size is counted."""
        raw: web.Request = request.request  # type: ignore[attr-defined]
        settings = raw.app[SETTINGS]
        form: dict[str, str] = {}
        files: dict[str, IncomingFile] = {}
        raw[INCOMING] = files
        reader = await raw.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise HTTPException(400, "Unable to parse the multipart body")
            if part.filename is None:
                form[part.name] = await _bounded_text(part)
                continue
            if len(files) >= settings.attachments_per_message:
                raise HTTPException(400, "Too many files in one request")
            try:
                files[part.name] = await raw.app[STORAGE].receive(
                    _chunks(part),
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type"),
                    limit=settings.attachment_max_bytes,
                    hard_limit=4 * settings.attachment_max_bytes,
                )
            except TooLarge:
                raise _too_large(settings.attachment_max_bytes) from None
        operations = self.parse_json(form.get("operations", "{}"))
        files_map = self.parse_json(form.get("map", "{}"))
        try:
            return replace_placeholders_with_files(operations, files_map, files)
        except (KeyError, TypeError, IndexError) as exc:
            raise HTTPException(400, "File(s) missing in form data") from exc

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate from `connection_init`: {"Authorization": "Bearer …"} or {"token": …}.

        A bad token closes the socket with 4403; no token leaves it anonymous.
        """
        params = context.connection_params or {}
        try:
            header = params.get("Authorization") or params.get("authorization")
            token = params.get("token") or auth.bearer(header if isinstance(header, str) else None)
            if token is None:
                return UNSET
            if not isinstance(token, str):
                raise auth.InvalidToken("token must be a string")
            claims = auth.decode(token, context.request.app[SETTINGS].jwt_secret)
        except auth.InvalidToken as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        viewer = await context.request.app[KNOWN_USERS].ensure(
            user_id=claims.sub, name=claims.name, role=claims.role
        )
        context.sign_in(viewer, claims.expires_at)
        return UNSET

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        socket = await super().create_websocket_response(request, subprotocol)
        request.app[SOCKETS].add(socket)
        return socket

    async def get_sub_response(self, request: web.Request) -> web.Response:
        response = web.Response()
        accept = request.headers.get("Accept", "")
        response.content_type = (
            GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in accept else "application/json"
        )
        return response

    def encode_json(self, data: object) -> str:
        # A str goes out as a text frame, which graphql-transport-ws clients require.
        return orjson.dumps(data).decode()

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: web.Response,
    ) -> web.Response:
        sub_response.body = orjson.dumps(response_data)
        return sub_response


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(64 * 1024):
        yield chunk


async def _bounded_text(part: BodyPartReader) -> str:
    data = bytearray()
    async for chunk in _chunks(part):
        data += chunk
        if len(data) > FORM_FIELD_MAX:
            raise HTTPException(413, "Multipart form field too large")
    return data.decode("utf-8", errors="replace")


def _too_large(limit: int) -> web.HTTPException:
    body = {
        "errors": [
            {
                "message": f"Files are limited to {limit} bytes.",
                "extensions": {"code": "ATTACHMENT_TOO_LARGE"},
            }
        ]
    }
    return web.HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=4 * limit,
        text=orjson.dumps(body).decode(),
        content_type="application/json",
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, bearer authentication (users created on first sight) and one access log line."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if REQUEST_ID_FORMAT.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    try:
        try:
            token = auth.bearer(request.headers.get("Authorization"))
            if token is not None:
                claims = auth.decode(token, request.app[SETTINGS].jwt_secret)
                request[VIEWER] = await request.app[KNOWN_USERS].ensure(
                    user_id=claims.sub, name=claims.name, role=claims.role
                )
                request[TOKEN_EXPIRES] = claims.expires_at
        except auth.InvalidToken as exc:
            response: web.StreamResponse = _unauthenticated(str(exc))
        else:
            response = await handler(request)
        response.headers["X-Request-Id"] = request_id
        status = response.status
        return response
    finally:
        viewer: Viewer | None = request.get(VIEWER)
        elapsed = time.perf_counter() - started
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        app_metrics = request.app[METRICS]
        app_metrics.http_requests.labels(request.method, route_name, str(status)).inc()
        app_metrics.http_seconds.labels(route_name).observe(elapsed)
        access_log.info(
            "request",
            request_id=request_id,
            method=request.method,
            path=request.path,
            status=status,
            user_id=viewer.id if viewer else None,
            duration_ms=round(elapsed * 1000, 2),
        )


def _unauthenticated(message: str) -> web.Response:
    body = {"errors": [{"message": message, "extensions": {"code": NotAuthenticated.code}}]}
    return web.Response(
        status=401,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def download(request: web.Request) -> web.StreamResponse:
    """GET /attachments/{id}: the same visibility as the ticket it belongs to."""
    viewer = request.get(VIEWER)
    if viewer is None:
        return _unauthenticated("Authentication required: send a bearer token.")
    raw_id = request.match_info["id"]
    found = None
    if raw_id.isdigit() and len(raw_id) <= 18:
        found = await attachments.get_visible(viewer=viewer, attachment_id=int(raw_id))
    if found is None:
        raise web.HTTPNotFound(text='{"error": "not found"}', content_type="application/json")
    quoted = urllib.parse.quote(found.filename, safe="")
    return web.FileResponse(
        request.app[STORAGE].path_of(found.storage_key),
        headers={
            "Content-Type": found.content_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    return web.Response(
        body=generate_latest(app[METRICS].registry),
        headers={"Content-Type": CONTENT_TYPE_LATEST},
    )


def _watch_live(app: web.Application) -> None:
    def collect() -> Iterator[Any]:
        sockets = app[SOCKETS]
        return live_families(
            sockets=sum(1 for s in tuple(sockets) if not s.closed),
            subscriptions=app[FEED].subscriber_count,
            published=app[COUNTING].published,
            failed=app[COUNTING].failed,
            delivered=app[FEED].delivered,
            pool=db.connections_in_use(),
        )

    app[METRICS].watch(collect)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = {"database": await db.ping(), "broker": await request.app[BROKER].ping()}
    status = 200 if all(checks.values()) else 503
    return web.json_response(
        {"status": "ok" if status == 200 else "unavailable", **checks}, status=status
    )


def create_app(settings: Settings) -> web.Application:
    settings.check()
    app = web.Application(middlewares=[request_context])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[COUNTING] = CountingBroker(broker_from_url(settings.broker_url))
    app[BROKER] = app[COUNTING]
    app[KNOWN_USERS] = KnownUsers()
    app[FEED] = EventFeed(app[BROKER])
    app[SOCKETS] = weakref.WeakSet()
    app[STORAGE] = LocalStorage(Path(settings.data_dir))
    _watch_live(app)
    app[LIMITS] = Limits(
        max_bytes=settings.attachment_max_bytes,
        per_message=settings.attachments_per_message,
        quota_bytes=settings.attachment_quota_bytes,
        unlinked_ttl=timedelta(hours=settings.upload_ttl_hours),
    )

    async def database(app: web.Application) -> AsyncIterator[None]:
        async with db.connected(settings.database_url):
            yield

    async def broker(app: web.Application) -> AsyncIterator[None]:
        await app[BROKER].connect()
        yield
        await app[BROKER].close()

    async def feed(app: web.Application) -> AsyncIterator[None]:
        await app[FEED].start()
        yield
        await app[FEED].close()

    async def close_sockets(app: web.Application) -> None:
        sockets = app[SOCKETS]
        for socket in tuple(sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")

    async def purge_uploads(app: web.Application) -> AsyncIterator[None]:
        async def run() -> None:
            while True:
                try:
                    await attachments.purge_expired(storage=app[STORAGE])
                except Exception:
                    access_log.exception("purging expired uploads failed")
                await asyncio.sleep(600)

        task = asyncio.create_task(run(), name="purge-uploads")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend([database, broker, feed, purge_uploads])
    app.on_shutdown.append(close_sockets)

    schema = build_schema(
        extensions=[
            ApiErrors,
            lambda: OperationLog(app[METRICS]),
            lambda: ParserCache(maxsize=1000),
            lambda: ValidationCache(maxsize=1000),
            *([] if settings.introspection else [DisableIntrospection]),
        ]
    )
    view = HelpdeskView(
        schema=schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        multipart_uploads_enabled=True,
    )
    app[SHARED] = SharedSubscriptions(schema)
    view.graphql_transport_ws_handler_class = type(
        "AppSharingHandler", (SharingHandler,), {"shared": app[SHARED]}
    )
    app.router.add_route("*", "/graphql", view)
    app.router.add_get("/attachments/{id}", download)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
    return app
