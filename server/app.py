"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from models import db
from models.storage import LocalStorage
from pubsub import broker_from_url, presence_store_from_url
from resolvers.loaders import CategoryTree
from schema.metadata import public_root_fields
from server import auth
from server.caching import NO_STORE, HttpCaching
from server.config import Settings
from server.cors import cors
from server.delivery import WithholdIncompleteEvents
from server.errors import INTERNAL_MESSAGE, UNAVAILABLE_CODE, Outages
from server.fanout import SharedSubscriptions, SharingHandler
from server.graphql_schema import build_schema
from server.keys import (
    BROKER,
    CACHING,
    CATEGORY_TREE,
    COUNTING,
    FEED,
    KNOWN_USERS,
    LIMITS,
    MEDIA_TYPE,
    METRICS,
    OPENED_SOCKET,
    OUTAGES,
    PERSISTED,
    PRESENCE,
    RATE_LIMITER,
    REQUEST_ID,
    SETTINGS,
    SHARED,
    SOCKETS,
    STORAGE,
    STREAMS,
    TOKEN_EXPIRES,
    VIEWER,
)
from server.limits import OperationChecks, QueryLimits
from server.metrics import CountingBroker, Metrics, live_families
from server.persisted import PersistedQueries
from server.pipeline import OperationPipeline
from server.rate_limiters import limiter_from_url
from server.streams import Streams
from server.view import HelpdeskView, error_body
from server.webui import register as register_pages
from services import attachments, categories, sla
from services.attachments import Limits
from services.availability import unavailable_dependency
from services.errors import (
    INTERNAL_CODE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_MESSAGE,
    NotAuthenticated,
)
from services.live import EventFeed
from services.presence import PresenceHub, PresenceSettings
from services.rate_limit import Rate
from services.users import KnownUsers
from services.validation import ATTACHMENT, as_id
from services.viewer import Viewer

GRAPHQL_PATH = "/graphql"
SOCKET_CLOSE_WAIT = 2.0  # seconds for WebSocket clients to answer the 1001 close at shutdown
REQUEST_ID_FORMAT = re.compile(r"[A-Za-z0-9._-]{1,128}")

access_log = structlog.get_logger("helpdesk.access")


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, bearer authentication (users created on first sight), one access log line,
    a JSON answer (503 with Retry-After for an outage, else a masked 500) for any failure, and
    the caching headers of whatever the GraphQL endpoint answers (a 304 in place of an answer
    the client has already)."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if REQUEST_ID_FORMAT.fullmatch(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    status = 500
    response: web.StreamResponse | None = None
    try:
        try:
            token = auth.bearer(request.headers.get("Authorization"))
            if token is not None:
                signed_in = await auth.sign_in(request.app, token)
                request[VIEWER] = signed_in.viewer
                request[TOKEN_EXPIRES] = signed_in.expires_at
        except auth.InvalidToken as exc:
            response = _unauthenticated(str(exc))
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    except asyncio.CancelledError:
        # A client that vanishes cancels its socket's handler: the upgrade was answered (101).
        if OPENED_SOCKET in request:
            status = 101
        raise
    except Exception as exc:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            raise  # the socket may be open already: no other answer can be sent
        response = _failure(request, exc, request_id)
    finally:
        if response is not None:
            response = request.app[CACHING].answer(request, response)
        viewer: Viewer | None = request.get(VIEWER)
        elapsed = time.perf_counter() - started
        route = request.match_info.route.resource
        route_name = route.canonical if route is not None else "unmatched"
        app_metrics = request.app[METRICS]
        if response is not None:
            status = response.status
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
    response.headers["X-Request-Id"] = request_id
    return response


def _failure(request: web.Request, exc: Exception, request_id: str) -> web.Response:
    """What an exception no handler caught becomes: never a plain-text 500 with a traceback."""
    media = request.get(MEDIA_TYPE) or "application/json"
    dependency = unavailable_dependency(exc)
    if dependency is not None:
        request.app[OUTAGES].failed(dependency, exc, request_id)
        return web.Response(
            status=503,
            body=error_body(UNAVAILABLE_MESSAGE, UNAVAILABLE_CODE, requestId=request_id),
            content_type=media,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    access_log.error("unexpected error", request_id=request_id, exc_info=exc)
    return web.Response(
        status=500,
        body=error_body(INTERNAL_MESSAGE, INTERNAL_CODE, requestId=request_id),
        content_type=media,
    )


def _unauthenticated(message: str) -> web.Response:
    return web.Response(
        status=401,
        body=error_body(message, NotAuthenticated.code),
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
    if (attachment_id := as_id(raw_id, ATTACHMENT)) is not None:
        found = await attachments.get_visible(viewer=viewer, attachment_id=attachment_id)
    if found is None:
        raise web.HTTPNotFound(text='{"error": "not found"}', content_type="application/json")
    # RFC 6266: an ASCII name for clients that read only `filename` (curl -J), the exact one in
    # `filename*` for those that read it.
    fallback = attachments.ascii_filename(found.filename)
    exact = urllib.parse.quote(found.filename, safe="")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
    return web.FileResponse(
        request.app[STORAGE].path_of(found.storage_key),
        headers={
            "Content-Type": found.content_type,
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    return web.Response(
        body=generate_latest(app[METRICS].registry),
        headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": NO_STORE},
    )


def _watch_live(app: web.Application) -> None:
    def collect() -> Iterator[Any]:
        sockets = app[SOCKETS]
        return live_families(
            sockets=sum(1 for s in tuple(sockets) if not s.closed),
            streams=app[STREAMS].count,
            subscriptions=app[FEED].subscriber_count,
            published=app[COUNTING].published,
            failed=app[COUNTING].failed,
            delivered=app[FEED].delivered,
            received=app[COUNTING].received,
            statements=db.statements_sent(),
            pool=db.connections_in_use(),
        )

    app[METRICS].watch(collect)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers={"Cache-Control": NO_STORE})


READY_CHECK_SECONDS = 0.5


async def _answers(check: Callable[[], Awaitable[bool]]) -> bool:
    """A readiness check that fails, raises or hangs means "down"."""
    try:
        async with asyncio.timeout(READY_CHECK_SECONDS):
            return await check()
    except Exception:
        return False


async def readyz(request: web.Request) -> web.Response:
    """JSON within a second: the checks run side by side, each bounded."""
    database, broker = await asyncio.gather(_answers(db.ping), _answers(request.app[BROKER].ping))
    checks = {"database": database, "broker": broker}
    for name, up in checks.items():
        request.app[OUTAGES].observed(name, up)
    status = 200 if all(checks.values()) else 503
    return web.json_response(
        {"status": "ok" if status == 200 else "unavailable", **checks},
        status=status,
        headers={"Cache-Control": NO_STORE},
    )


def create_app(settings: Settings) -> web.Application:
    settings.check()
    app = web.Application(
        # No CORS layer unless configured: each layer stays on the stack of every open WebSocket.
        middlewares=[
            *([cors(settings.cors_origins)] if settings.cors_origins else []),
            request_context,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    redis_timeout = settings.redis_timeout_ms / 1000
    redis_cooldown = settings.redis_cooldown_ms / 1000
    app[COUNTING] = CountingBroker(
        broker_from_url(settings.broker_url, timeout=redis_timeout, cooldown=redis_cooldown)
    )
    app[BROKER] = app[COUNTING]
    app[OUTAGES] = Outages(app[METRICS], {"database": db.ping, "broker": app[BROKER].ping})
    app[KNOWN_USERS] = KnownUsers()
    app[FEED] = EventFeed(app[BROKER])
    app[PRESENCE] = PresenceHub(
        presence_store_from_url(
            settings.broker_url,
            retention=max(settings.presence_heartbeat_seconds, settings.typing_seconds),
            timeout=redis_timeout,
            cooldown=redis_cooldown,
        ),
        app[BROKER],
        PresenceSettings(
            heartbeat=settings.presence_heartbeat_seconds,
            typing=settings.typing_seconds,
            per_ticket=settings.presence_per_ticket,
            per_user=settings.presence_per_user,
        ),
    )
    app[SOCKETS] = weakref.WeakSet()
    app[STORAGE] = LocalStorage(Path(settings.data_dir))
    app[LIMITS] = Limits(
        max_bytes=settings.attachment_max_bytes,
        per_message=settings.attachments_per_message,
        quota_bytes=settings.attachment_quota_bytes,
        unlinked_ttl=timedelta(hours=settings.upload_ttl_hours),
        image_max_pixels=settings.image_max_pixels,
        image_decoders=settings.image_decode_concurrency,
    )
    rate = (
        Rate(settings.rate_limit_per_minute, settings.rate_limit_burst)
        if settings.rate_limit_per_minute
        else None
    )
    app[RATE_LIMITER] = limiter_from_url(
        settings.rate_limit_url or settings.broker_url,
        rate,
        timeout=redis_timeout,
        cooldown=redis_cooldown,
    )
    limits = QueryLimits(
        depth=settings.max_depth,
        aliases=settings.max_aliases,
        root_fields=settings.max_root_fields,
        tokens=settings.max_tokens,
        characters=settings.max_query_chars,
        nodes=settings.max_nodes,
        seconds=settings.operation_timeout,
        response_bytes=settings.max_response_bytes,
        subscriptions=settings.max_subscriptions,
    )
    app[PERSISTED] = PersistedQueries(settings.persisted_queries, settings.max_query_chars)

    async def database(app: web.Application) -> AsyncIterator[None]:
        async with db.connected(settings.database_url):
            try:
                app[CATEGORY_TREE] = CategoryTree(await categories.list_categories())
            except Exception:  # the database may be down now; categories are then read per request
                access_log.warning("categories not read at start-up", exc_info=True)
            yield

    async def broker(app: web.Application) -> AsyncIterator[None]:
        await app[BROKER].connect()
        yield
        await app[BROKER].close()
        await app[RATE_LIMITER].close()

    async def feed(app: web.Application) -> AsyncIterator[None]:
        await app[FEED].start()
        await app[PRESENCE].start()
        yield
        await app[PRESENCE].close()
        await app[FEED].close()

    async def close_sockets(app: web.Application) -> None:
        """Every socket is told 1001 at once; a client slow to answer delays none of the others
        nor the exit beyond a short wait (its connection is dropped with the process)."""
        app[SHARED].close()
        app[STREAMS].close()
        open_sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
        sockets = tuple(open_sockets)
        closing = [
            asyncio.ensure_future(s.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown"))
            for s in sockets
        ]
        if closing:
            wait = min(SOCKET_CLOSE_WAIT, settings.shutdown_timeout)
            _, slow = await asyncio.wait(closing, timeout=wait)
            for task in slow:
                task.cancel()

    async def purge_uploads(app: web.Application) -> AsyncIterator[None]:
        async def run() -> None:
            while True:
                try:
                    await attachments.purge_expired(storage=app[STORAGE])
                except Exception:
                    access_log.exception("purging expired uploads failed")
                await asyncio.sleep(600)

        task = db.background_task(run(), name="purge-uploads")
        yield
        await db.stop_tasks(task)
        app[STORAGE].close()

    async def sla_breaches(app: web.Application) -> AsyncIterator[None]:
        """Every process scans for passed due times; the database decides who breaches what
        (services.sla.breach_due), so each target is breached once whatever runs."""

        async def run() -> None:
            failing = False
            while True:
                # First the interval: the app finishes starting before its first scan.
                await asyncio.sleep(settings.sla_scan_seconds)
                try:
                    while (found := await sla.breach_due(broker=app[BROKER])) > 0:
                        app[METRICS].sla_breaches.inc(found)
                        if found < sla.SCAN_BATCH:
                            break
                    app[METRICS].sla_scans.inc()
                    if failing:
                        access_log.info("SLA scans work again")
                    failing = False
                except Exception:
                    if not failing:  # once per outage, not every scan
                        access_log.exception("SLA scan failed; retrying")
                    failing = True

        task = db.background_task(run(), name="sla-breaches")
        yield
        await db.stop_tasks(task)

    async def outages(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[OUTAGES].close()

    app.cleanup_ctx.extend([database, broker, feed, purge_uploads, sla_breaches, outages])
    app.on_shutdown.append(close_sockets)

    schema = build_schema(
        extensions=[
            WithholdIncompleteEvents,  # before the error policy masks what it looks at
            OperationPipeline.factory(OperationChecks(limits), app[METRICS], app[OUTAGES]),
            *([] if settings.introspection else [DisableIntrospection]),
        ],
        config=StrawberryConfig(
            batching_config={"max_operations": settings.max_batch} if settings.max_batch else None
        ),
    )
    view = HelpdeskView(
        schema=schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        multipart_uploads_enabled=True,
        allowed_origins=settings.cors_origins,
        # The legacy `graphql-ws` subprotocol is refused: a handshake offering only it gets no
        # subprotocol and the socket is closed with 4406.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    view.limits = limits
    view.max_subscriptions_per_connection = limits.subscriptions
    app[SHARED] = SharedSubscriptions(schema, limits.response_bytes)
    app[STREAMS] = Streams(app[SHARED], limits)
    _watch_live(app)
    view.graphql_transport_ws_handler_class = type(
        "AppSharingHandler", (SharingHandler,), {"shared": app[SHARED], "limits": limits}
    )
    app[CACHING] = HttpCaching(
        path=GRAPHQL_PATH,
        public_fields=public_root_fields(schema),
        max_age=settings.public_max_age,
        persisted=app[PERSISTED],
    )
    app.router.add_route("*", GRAPHQL_PATH, view)
    app.router.add_get("/attachments/{id}", download)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/readyz", readyz)
    register_pages(app, Path(settings.web_dir))
    return app
