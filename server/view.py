"""The GraphQL endpoint: Strawberry's aiohttp view, held to the GraphQL-over-HTTP specification.

- Media types: `application/graphql-response+json` when the client accepts it (request errors are
  then 400 and carry no `data`), `application/json` otherwise (well-formed requests get 200);
  406 when the client accepts neither.
- GET runs queries and subscriptions: a mutation over GET is 405 with `Allow: POST`. POST takes
  JSON, or the GraphQL multipart request for uploads; anything else is 415. Malformed bodies
  are 400.
- A subscription over GET or POST streams when the client accepts a stream (`text/event-stream`,
  or `multipart/mixed;subscriptionSpec="1.0"`; see `server.streams`), at most
  `QueryLimits.subscriptions` streams per viewer (429 beyond); without such an Accept it is 400
  `BAD_REQUEST`, naming the ways to subscribe. A stream-only Accept serves subscriptions only
  (406 for queries and mutations).
- Every error body is JSON `{"errors": [{message, extensions: {code}}]}`.
- Automatic persisted queries, bounded batching, bounded WebSocket messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import BadHttpMessage
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from graphql import OperationType as GraphQLOperationType
from strawberry.aiohttp.views import GraphQLView
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.http.parse_content_type import parse_content_type
from strawberry.http.streaming import HTTPStreamTransport
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from models.storage import IncomingFile, TooLarge
from resolvers.context import Context
from server import auth
from server.config import Settings
from server.errors import UNAVAILABLE_CODE, label_request_error
from server.fanout import Subscription, operation_type
from server.keys import (
    BROKER,
    CATEGORY_TREE,
    CORS_HEADERS,
    FEED,
    INCOMING,
    LIMITS,
    MEDIA_TYPE,
    OPENED_SOCKET,
    PERSISTED,
    PRESENCE,
    RATE_LIMITER,
    REQUEST_ID,
    SETTINGS,
    SOCKETS,
    STORAGE,
    STREAM,
    STREAMS,
    TOKEN_EXPIRES,
    VIEWER,
)
from server.limits import LIMIT_CODE, QueryLimits, response_too_large
from server.persisted import PersistedQueryError
from server.streams import stream_transport
from server.webui import graphiql_page
from services.errors import INTERNAL_CODE, RETRY_AFTER_SECONDS

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
SUBSCRIPTION = OperationType.SUBSCRIPTION
SUBSCRIPTIONS_NEED_A_STREAM = (
    "Subscriptions run over WebSocket (open /graphql with the graphql-transport-ws subprotocol), "
    "over Server-Sent Events (Accept: text/event-stream), or as multipart HTTP "
    '(Accept: multipart/mixed;subscriptionSpec="1.0").'
)
STATUS_CODES = {
    400: "BAD_REQUEST",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


class Subscribe(Exception):
    """The request is a subscription to stream over HTTP: raised out of execution to the view."""

    def __init__(
        self, transport: HTTPStreamTransport, subscription: Subscription, context: Context
    ) -> None:
        super().__init__()
        self.transport = transport
        self.subscription = subscription
        self.context = context


class RequestError(HTTPException):
    """A request refused before any GraphQL ran."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code or STATUS_CODES.get(status, "BAD_REQUEST")
        self.headers = headers or {}


def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header, or None when none of ours is acceptable."""
    if not accept:
        return JSON
    quality = {GRAPHQL_RESPONSE: 0.0, JSON: 0.0}
    for item in accept.split(","):
        media, _, parameters = item.partition(";")
        media = media.strip().lower()
        q = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == GRAPHQL_RESPONSE:
            quality[GRAPHQL_RESPONSE] = max(quality[GRAPHQL_RESPONSE], q)
        elif media in (JSON, "application/*", "*/*"):
            quality[JSON] = max(quality[JSON], q)
    if quality[GRAPHQL_RESPONSE] > 0 and quality[GRAPHQL_RESPONSE] >= quality[JSON]:
        return GRAPHQL_RESPONSE
    return JSON if quality[JSON] > 0 else None


def error_body(message: str, code: str, **extensions: object) -> bytes:
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


def _is_request_error(result: ExecutionResult) -> bool:
    """No data and no error with a path: the operation never started executing."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class HelpdeskView(GraphQLView[Context, None]):
    """Strawberry's aiohttp view with our context, orjson, and the rules above."""

    limits: QueryLimits = QueryLimits()

    async def get_context(self, request: web.Request, response: Any) -> Context:
        app = request.app
        return Context(
            viewer=request.get(VIEWER),
            broker=app[BROKER],
            feed=app[FEED],
            request_id=request[REQUEST_ID],
            expires_at=request.get(TOKEN_EXPIRES),
            storage=app[STORAGE],
            limits=app[LIMITS],
            rate_limiter=app[RATE_LIMITER],
            categories=app.get(CATEGORY_TREE),
            rating_window=timedelta(days=app[SETTINGS].rating_days),
            presence=app[PRESENCE],
            request=request,
            response=response,
        )

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self.run(request=request)
        except Subscribe as subscribe:
            return await self.stream(request, subscribe)
        except RequestError as error:
            return self.error_response(
                request, error.status_code, error.reason, error.code, error.headers
            )
        except HTTPException as error:
            return self.error_response(request, error.status_code, error.reason)
        except web.HTTPRequestEntityTooLarge:
            limit = request.app[SETTINGS].max_body_bytes
            return self.error_response(request, 413, f"Bodies are limited to {limit} bytes.")
        finally:
            for incoming in request.get(INCOMING, {}).values():
                incoming.discard()  # uploads not stored by a resolver leave nothing behind

    async def stream(self, request: web.Request, subscribe: Subscribe) -> web.StreamResponse:
        streams = request.app[STREAMS]
        if not streams.admits(subscribe.context):
            maximum = self.limits.subscriptions
            return self.error_response(
                request,
                429,
                f"At most {maximum} subscriptions stream at once per viewer: end one first.",
                LIMIT_CODE,
                extensions={"limit": "subscriptions", "max": maximum},
            )
        return await streams.serve(
            request,
            subscribe.transport,
            subscribe.subscription,
            subscribe.context,
            headers={**request.get(CORS_HEADERS, {}), "X-Request-Id": request[REQUEST_ID]},
        )

    def error_response(
        self,
        request: web.Request,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, object] | None = None,
    ) -> web.Response:
        return web.Response(
            status=status,
            body=error_body(
                message, code or STATUS_CODES.get(status, "BAD_REQUEST"), **(extensions or {})
            ),
            content_type=request.get(MEDIA_TYPE) or JSON,
            headers=headers,
        )

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for browsers (HTML accepted) asking for the endpoint itself, nothing else."""
        params = request.query_params
        return (
            request.method == "GET"
            and params.get("query") is None
            and params.get("extensions") is None
            and "text/html" in request.headers.get("accept", "")
        )

    async def render_graphql_ide(self, request: web.Request) -> web.Response:
        return graphiql_page(request)  # served from this origin: server/webui.py

    async def get_sub_response(self, request: web.Request) -> web.Response:
        accept = request.headers.get("Accept")
        media = negotiate(accept)
        request[MEDIA_TYPE] = media or ""
        request[STREAM] = stream_transport(accept)
        response = web.Response()
        response.content_type = media or JSON
        return response

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        raw: web.Request = request.request  # type: ignore[attr-defined]
        if not raw[MEDIA_TYPE] and raw[STREAM] is None:
            raise RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.")
        if request.method == "GET":
            data: Any = self.parse_query_params(request.query_params)
        else:
            content_type, _ = parse_content_type(request.content_type or "")
            if content_type == JSON:
                data = self.parse_json(await read_json_body(raw))
            elif content_type == "multipart/form-data":
                data = await self.parse_multipart(request)
            else:
                raise RequestError(
                    415, "POST a JSON body (application/json), or multipart/form-data to upload."
                )
        if not isinstance(data, list):
            return _request_data(data)
        raw[STREAM] = None  # a batch is answered whole: its subscriptions are refused
        if not raw[MEDIA_TYPE]:
            raise RequestError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.")
        limit = raw.app[SETTINGS].max_batch
        if not limit:
            raise RequestError(400, "Batching is off: send one operation per request.")
        if not 1 <= len(data) <= limit:
            raise RequestError(400, f"A batch holds 1 to {limit} operations.")
        return [_request_data(item) for item in data]

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def execute_single(
        self,
        request: web.Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: web.Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        try:
            query = request.app[PERSISTED].resolve(request_data.query, request_data.extensions)
        except PersistedQueryError as error:
            return _refused(error.message, error.code)
        transport = request[STREAM]
        if transport is not None:
            kind = operation_type(query, request_data.operation_name, self.limits)
            # A document that does not parse goes out through the stream when only a stream
            # is accepted (as graphql-sse's protocol asks).
            if kind is GraphQLOperationType.SUBSCRIPTION or (
                kind is None and not request[MEDIA_TYPE]
            ):
                subscription = Subscription(
                    query or "", request_data.variables, request_data.operation_name
                )
                raise Subscribe(transport, subscription, context)
        # A stream-only Accept runs no query or mutation: 406.
        allowed = OperationType.from_http(method) - {SUBSCRIPTION} if request[MEDIA_TYPE] else set()
        try:
            return await self.schema.execute(
                query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as error:
            if error.operation_type is SUBSCRIPTION:
                raise RequestError(400, SUBSCRIPTIONS_NEED_A_STREAM) from error
            if not request[MEDIA_TYPE]:
                raise RequestError(
                    406, f"Accept {GRAPHQL_RESPONSE} or {JSON} for queries and mutations."
                ) from error
            if method == "GET":
                raise RequestError(
                    405, error.as_http_error_reason(method), headers={"Allow": "POST"}
                ) from error
            return _refused(error.as_http_error_reason(method), "BAD_REQUEST")
        except CannotGetOperationTypeError as error:
            return _refused(error.as_http_error_reason(), "BAD_REQUEST")
        except MissingQueryError as error:
            raise RequestError(400, "No GraphQL query found in the request.") from error

    async def process_result(
        self, request: web.Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        for error in result.errors or ():
            label_request_error(error)
        body = process_result(result)
        if _is_request_error(result):
            del body["data"]  # the specification's shape for an operation that never ran
        return body

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: web.Response,
    ) -> web.Response:
        body = orjson.dumps(response_data)
        maximum = self.limits.response_bytes
        if len(body) > maximum:
            response_data = response_too_large(len(body), maximum)  # type: ignore[assignment]
            body = orjson.dumps(response_data)
        if isinstance(response_data, dict):
            codes = {
                (error.get("extensions") or {}).get("code")
                for error in response_data.get("errors") or ()
                if isinstance(error, dict)
            }
            # No data at all: the request failed as a whole. Data that is null over
            # graphql-response+json: the status may say why (non-null data is always 200).
            failed = "data" not in response_data or (
                response_data.get("data") is None and sub_response.content_type == GRAPHQL_RESPONSE
            )
            if UNAVAILABLE_CODE in codes:
                sub_response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                if failed:
                    sub_response.set_status(503)
            elif "data" not in response_data:
                if INTERNAL_CODE in codes:
                    sub_response.set_status(500)
                elif sub_response.content_type == GRAPHQL_RESPONSE:
                    sub_response.set_status(400)
        sub_response.body = body
        return sub_response

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        """GraphQL multipart request, streamed: files go to disk while their size is counted.

        Each part name once; the form fields together within the JSON body limit; the whole
        body within `request_cap`, checked from Content-Length before reading and counted while
        reading; the body within its deadline (`_Body`).
        """
        raw: web.Request = request.request  # type: ignore[attr-defined]
        settings = raw.app[SETTINGS]
        form: dict[str, str] = {}
        files: dict[str, IncomingFile] = {}
        raw[INCOMING] = files
        async with _Body.read(raw, request_cap(settings)) as body:
            try:
                reader = await raw.multipart()
                while (part := await reader.next()) is not None:
                    body.advance()  # what came before the part counts too
                    if not isinstance(part, BodyPartReader) or not part.name:
                        raise RequestError(400, "Unable to parse the multipart body.")
                    if part.name in form or part.name in files:
                        raise RequestError(400, f"The part name {part.name!r} is repeated.")
                    if part.filename is None:
                        form[part.name] = await _form_text(part, body, settings.max_body_bytes)
                        continue
                    if len(files) >= settings.attachments_per_message:
                        raise RequestError(400, "Too many files in one request.")
                    files[part.name] = await _receive(raw, part, body)
            except (ValueError, RuntimeError, BadHttpMessage) as error:
                raise RequestError(400, "Unable to parse the multipart body.") from error
        operations = self.parse_json(form.get("operations", "{}"))
        files_map = self.parse_json(form.get("map", "{}"))
        try:
            return replace_placeholders_with_files(operations, files_map, files)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise RequestError(400, "File(s) missing in form data.") from exc

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
            signed_in = await auth.sign_in(context.request.app, token)
        except auth.InvalidToken as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        context.sign_in(signed_in.viewer, signed_in.expires_at)
        context.connection_params = None  # read once; not kept for the connection's life
        return UNSET

    async def create_websocket_response(
        self, request: web.Request, subprotocol: str | None
    ) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(
            protocols=[subprotocol] if subprotocol else [],
            max_msg_size=request.app[SETTINGS].max_body_bytes,
        )
        await socket.prepare(request)
        request[OPENED_SOCKET] = socket
        request.app[SOCKETS].add(socket)
        return socket

    def encode_json(self, data: object) -> str:
        # A str goes out as a text frame, which graphql-transport-ws clients require.
        text = orjson.dumps(data)
        maximum = self.limits.response_bytes
        if len(text) > maximum and isinstance(data, dict) and data.get("type") == "next":
            size = len(orjson.dumps(data.get("payload")))
            text = orjson.dumps({**data, "payload": response_too_large(size, maximum)})
        return text.decode()


def _request_data(data: Any) -> GraphQLRequestData:
    if not isinstance(data, dict):
        raise RequestError(400, "A GraphQL request is a JSON object.")
    query = data.get("query")
    variables = data.get("variables")
    operation_name = data.get("operationName")
    extensions = data.get("extensions")
    if not isinstance(query, str | None):
        raise RequestError(400, "`query` must be a string.")
    if not isinstance(variables, dict | None):
        raise RequestError(400, "`variables` must be an object.")
    if not isinstance(operation_name, str | None):
        raise RequestError(400, "`operationName` must be a string.")
    if not isinstance(extensions, dict | None):
        raise RequestError(400, "`extensions` must be an object.")
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=operation_name, extensions=extensions
    )


def _refused(message: str, code: str) -> ExecutionResult:
    return PreExecutionError(data=None, errors=[GraphQLError(message, extensions={"code": code})])


MIN_BODY_RATE = 16 * 1024  # bytes a second a body must average beyond its first read timeout
MULTIPART_OVERHEAD = 16 * 1024  # part headers and boundaries


def request_cap(settings: Settings) -> int:
    """The largest multipart body: every file at its limit, the form fields at theirs."""
    return (
        settings.attachments_per_message * settings.attachment_max_bytes
        + settings.max_body_bytes
        + MULTIPART_OVERHEAD
    )


class _Body:
    """One request body being read: its size cap and its deadline.

    The deadline is `HELPDESK_READ_TIMEOUT` seconds, plus one second for every MIN_BODY_RATE
    bytes received (in the manner of Apache's mod_reqtimeout): a slow but steady client
    finishes, a trickle is cut off with 408.
    """

    def __init__(self, raw: web.Request, cap: int, scope: asyncio.Timeout) -> None:
        self.raw = raw
        self.cap = cap
        self.scope = scope
        self.started = asyncio.get_running_loop().time()
        self.timeout = raw.app[SETTINGS].read_timeout
        self.form_bytes = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def read(cls, raw: web.Request, cap: int) -> AsyncIterator[_Body]:
        if raw.content_length is not None and raw.content_length > cap:
            raise _too_large(cap)
        timeout = raw.app[SETTINGS].read_timeout
        try:
            async with asyncio.timeout(asyncio.get_running_loop().time() + timeout) as scope:
                yield cls(raw, cap, scope)
        except TimeoutError:
            raise RequestError(
                408,
                f"The request body must arrive within {timeout} s, then at "
                f"{MIN_BODY_RATE} bytes a second.",
            ) from None

    def advance(self) -> None:
        """Count what arrived so far: past the cap 413, and the deadline moves on."""
        received = self.raw.content.total_bytes
        if received > self.cap:
            raise _too_large(self.cap)
        self.scope.reschedule(self.started + self.timeout + received / MIN_BODY_RATE)


def _too_large(cap: int) -> RequestError:
    return RequestError(413, f"Bodies are limited to {cap} bytes.")


async def read_json_body(raw: web.Request) -> bytes:
    """A JSON body within HELPDESK_MAX_BODY_BYTES and its deadline."""
    data = bytearray()
    async with _Body.read(raw, raw.app[SETTINGS].max_body_bytes) as body:
        async for chunk in raw.content.iter_any():
            data += chunk
            body.advance()
    return bytes(data)


async def _chunks(part: BodyPartReader, body: _Body) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(64 * 1024):
        body.advance()
        yield chunk


async def _form_text(part: BodyPartReader, body: _Body, limit: int) -> str:
    """A form field's text; all the fields of a request together stay within `limit` bytes."""
    data = bytearray()
    used = body.form_bytes
    async for chunk in _chunks(part, body):
        data += chunk
        if used + len(data) > limit:
            raise RequestError(413, f"Multipart form fields are limited to {limit} bytes in all.")
    body.form_bytes = used + len(data)
    return data.decode("utf-8", errors="replace")


async def _receive(raw: web.Request, part: BodyPartReader, body: _Body) -> IncomingFile:
    settings = raw.app[SETTINGS]
    try:
        return await raw.app[STORAGE].receive(
            _chunks(part, body),
            filename=part.filename or "",
            content_type=part.headers.get("Content-Type"),
            limit=settings.attachment_max_bytes,
            hard_limit=4 * settings.attachment_max_bytes,
        )
    except TooLarge:
        raise RequestError(
            413,
            f"Files are limited to {settings.attachment_max_bytes} bytes.",
            "ATTACHMENT_TOO_LARGE",
        ) from None
