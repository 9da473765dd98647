"""Subscriptions over HTTP: GraphQL over SSE and Apollo's multipart subscriptions.

- GraphQL over SSE, the `graphql-sse` client's distinct connections mode: `Accept:
  text/event-stream`, GET or POST; `next` events carry results, `complete` ends the stream.
- Multipart subscriptions (Apollo Client's `HttpLink`): `Accept:
  multipart/mixed;subscriptionSpec="1.0"`; each part is `{"payload": result}`, `{}` is a
  heartbeat, the closing boundary ends the stream.

Framing and headers are Strawberry's transports. One stream is one subscription, and a member of
the shared executions (`server.fanout`) like a WebSocket subscription: the same groups, the same
refusals before it runs (limits, `UNAUTHENTICATED` without a token, as a `next` carrying the
errors, then `complete`, as graphql-sse's protocol asks), the same token expiry (a `next` with
`UNAUTHENTICATED`, then `complete`), the same slow-client rule, and the same batching (results
ready together are framed back to back and written at once). Replays (`after`) run alone.

One task keeps every open stream: heartbeats (SSE every 15 s, multipart every 5 s, and at once)
and noticing clients gone (aiohttp does not cancel a handler when its client disconnects). At
shutdown every stream ends without `complete`, which the clients read as a dropped connection,
and they reconnect (with `after`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import orjson
from aiohttp import web
from graphql import GraphQLFormattedError
from strawberry.http.streaming import (
    HTTPStreamTransport,
    MultipartSubscriptionTransport,
    SSETransport,
)

from resolvers.context import Context
from server.caching import VARY, uncacheable, vary
from server.fanout import Member, SharedSubscriptions, Subscription
from server.limits import QueryLimits

TICK_SECONDS = 1.0  # how often heartbeats fall due and clients gone are noticed
TRANSPORTS: tuple[type[HTTPStreamTransport], ...] = (SSETransport, MultipartSubscriptionTransport)


def stream_transport(accept: str | None) -> HTTPStreamTransport | None:
    """The streaming transport an Accept header asks for, if any."""
    if not accept:
        return None
    for transport_class in TRANSPORTS:
        transport = transport_class()
        if transport.accepts(accept):
            return transport
    return None


class StreamMember(Member):
    """One HTTP stream's subscription."""

    __slots__ = ("done", "finished", "heartbeat_at", "response", "transport")

    def __init__(
        self,
        operation: Subscription,
        context: Context,
        request: web.Request,
        transport: HTTPStreamTransport,
        response: web.StreamResponse,
    ) -> None:
        super().__init__(operation, context, request)
        self.transport = transport
        self.response = response
        self.finished = False
        self.done = asyncio.Event()  # the handler may end the response
        self.heartbeat_at = 0.0

    @property
    def completed(self) -> bool:
        return self.finished

    def frame(self, payload: str) -> str:
        if isinstance(self.transport, MultipartSubscriptionTransport):
            return self.transport.encode_multipart_data(None, lambda _: f'{{"payload":{payload}}}')
        assert isinstance(self.transport, SSETransport)
        return self.transport.encode_event("next", payload)

    def closing(self) -> str:
        if isinstance(self.transport, MultipartSubscriptionTransport):
            return "--\r\n"  # each part ends with the boundary: this makes it the closing one
        return self.transport.encode_complete()

    async def write(self, text: str) -> None:
        await self.response.write(text.encode())

    async def finish(self, errors: list[GraphQLFormattedError] | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        texts = [] if errors is None else [self.frame(orjson.dumps({"errors": errors}).decode())]
        texts.append(self.closing())
        if self.backlog is not None:
            self.backlog.extend(texts)  # after what still waits; then `drained`
            return
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            for text in texts:
                await self.write(text)
        self.done.set()

    def drained(self) -> None:
        if self.finished:
            self.done.set()

    def drop(self) -> None:
        super().drop()
        self.done.set()

    def end(self) -> None:
        """The stream ends without `complete` (client gone, or shutdown)."""
        self.finished = True
        self.stop()
        self.done.set()

    async def heartbeat(self, now: float) -> None:
        if now < self.heartbeat_at:
            return
        self.heartbeat_at = now + self.transport.heartbeat_interval
        text = self.transport.heartbeat_message(lambda _: "{}")
        if not self.finished and self.backlog is None and self._writable(len(text)):
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await self.write(text)

    def gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


class Streams:
    """The open HTTP streams of the process: at most `limits.subscriptions` per viewer."""

    def __init__(self, shared: SharedSubscriptions, limits: QueryLimits) -> None:
        self.shared = shared
        self.limits = limits
        self._open: set[StreamMember] = set()
        self._per_viewer: Counter[str] = Counter()
        self._keeper: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def count(self) -> int:
        return len(self._open)

    def admits(self, context: Context) -> bool:
        """Whether the viewer may open one more stream (a stream without a viewer ends at once)."""
        viewer = context.viewer
        return viewer is None or self._per_viewer[viewer.id] < self.limits.subscriptions

    async def serve(
        self,
        request: web.Request,
        transport: HTTPStreamTransport,
        subscription: Subscription,
        context: Context,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """Stream the subscription's results until it ends, the client leaves, or shutdown."""
        response = web.StreamResponse(headers={**transport.headers, **headers})
        response.headers["Cache-Control"] = uncacheable(request)  # sent now, not after
        vary(response.headers, *VARY)
        member = StreamMember(subscription, context, request, transport, response)
        viewer = context.viewer
        self._open.add(member)
        if viewer is not None:
            self._per_viewer[viewer.id] += 1
        try:
            await response.prepare(request)
            if isinstance(transport, MultipartSubscriptionTransport):
                await member.write(f"--{transport.separator}")
            if transport.send_initial_heartbeat:
                await member.heartbeat(time.monotonic())
            else:
                member.heartbeat_at = time.monotonic() + transport.heartbeat_interval
            if self._closed:
                return response  # shutting down: it ends at once, without `complete`
            key = self.shared.key(subscription, context, self.limits)
            self.shared.join(member, key)
            self._keep()
            await member.done.wait()
        except (ConnectionResetError, RuntimeError):
            pass  # the client left while the stream opened
        finally:
            self._open.discard(member)
            if viewer is not None:
                self._per_viewer[viewer.id] -= 1
                if not self._per_viewer[viewer.id]:
                    del self._per_viewer[viewer.id]
            if member.group is not None:
                self.shared.leave(member.group, member)
            member.end()
        return response

    def close(self) -> None:
        """At shutdown: every stream ends (without `complete`: the clients reconnect)."""
        self._closed = True
        if self._keeper is not None:
            self._keeper.cancel()
        for member in list(self._open):
            if member.group is not None:
                self.shared.leave(member.group, member)
            member.end()

    def _keep(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_streams())

    async def _keep_streams(self) -> None:
        """Heartbeats when due; the streams of clients gone end. Stops with the last stream."""
        while self._open:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for member in list(self._open):
                if member.gone():
                    if member.group is not None:
                        self.shared.leave(member.group, member)
                    member.end()
                else:
                    await member.heartbeat(now)
