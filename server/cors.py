"""CORS for browser frontends on other origins (HELPDESK_CORS_ORIGINS; empty means none).

Preflights are answered here; actual responses from an allowed origin carry the origin back,
with the headers a client needs to read (request id, retry-after). Bearer tokens travel in the
Authorization header, so cookies are never involved and credentials are not allowed.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from server.caching import vary
from server.keys import CORS_HEADERS

ALLOW_HEADERS = (
    "Authorization, Content-Type, Accept, X-Request-Id, Apollo-Require-Preflight, "
    "apollographql-client-name, apollographql-client-version"
)
EXPOSE_HEADERS = "X-Request-Id, Retry-After"
VARY = {"Vary": "Origin"}


def cors(origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(origin.lower() for origin in origins)
    any_origin = "*" in allowed

    def permitted(origin: str) -> bool:
        return any_origin or origin.rstrip("/").lower() in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not allowed or origin is None:
            return await handler(request)
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        if preflight:
            if not permitted(origin):
                return web.Response(status=403, text="Origin not allowed", headers=VARY)
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        headers: dict[str, str] = {}
        _annotate(headers, origin, permitted(origin))
        request[CORS_HEADERS] = headers  # for a stream, whose handler sends its headers itself
        try:
            response = await handler(request)
        except web.HTTPException as raised:
            _annotate(raised.headers, origin, permitted(origin))
            raise
        if not response.prepared:  # a WebSocket has already sent its handshake
            _annotate(response.headers, origin, permitted(origin))
        return response

    return middleware


def _annotate(headers: MutableMapping[str, str], origin: str, permitted: bool) -> None:
    vary(headers, "Origin")
    if permitted:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
