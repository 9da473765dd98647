"""Shared subscriptions: identical subscriptions of viewers who see the same events run once.

Strawberry executes a subscription's selection for every subscriber. Here subscriptions with the
same document, variables and *audience* share one execution: each event is resolved and
serialized once, and the same text goes to every member, framed for its transport: a
graphql-transport-ws message with its operation id (`_SocketMember`), an SSE event or a multipart
part (`server.streams.StreamMember`). A subscription that may not share (a replay, an anonymous
one) over HTTP runs as a group of its own, so both transports answer alike.

Audience: staff of one role (agents, or admins) see the same events, so they share unless the
selection names a field declared per viewer (`schema.metadata.PER_VIEWER`, e.g. `viewerCan`); a
customer shares only with their own other tabs. Replays (`after`) are per subscriber and never
shared, nor are subscriptions that push the state now first (`schema.metadata.STATE_FIRST`).
A subscription whose every message is the whole state (`schema.metadata.WHOLE_STATE`, the
dashboard's figures) shares, and a member joining a running execution is sent its latest
message at once, so a second tab does not wait for the next change to show anything.
Token expiry stays per subscriber (one sweeper ends each member when its token expires),
and every new operation on a socket whose token has expired is refused
(`SharingHandler.handle_subscribe`; over HTTP, signing in refuses the token).

Results that are ready together are sent together. The group's execution puts each encoded
result in the group's outbox; a send task, running only while the outbox has results, takes
everything in it and gives each member one write for the whole batch (`Batch`): a WebSocket
without permessage-deflate gets its `next` frames built here, once per operation id for all the
members that share it, and written to the connection at once; an SSE or multipart stream gets
its frames joined into one write; a compressed WebSocket gets each message from aiohttp. There
is no timer: at low load a batch is one result, sent as soon as it is ready; under load the
results that come out while a round is being sent (it yields to the loop every `ROUND_SLICE`
members) make the next batch, so the writes per result fall as the rate rises.

Sends never wait on a client: a member whose socket is not keeping up gets its messages queued
and written by a task of its own, so a slow client delays nobody else; one that falls
`MAX_BACKLOG` messages behind is disconnected (it may reconnect and resume with `after`). A
member's `complete` goes after the messages queued for it, and the group's end after its
outbox is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
import weakref
from collections import deque
from collections.abc import Hashable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLFormattedError,
    OperationDefinitionNode,
    OperationType,
    parse,
    visit,
)
from graphql.language import Visitor
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ErrorMessage
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType as StrawberryOperationType

from resolvers.context import Context
from schema.metadata import (
    state_first_field_names,
    viewer_dependent_field_names,
    whole_state_field_names,
)
from server.delivery import whole_results
from server.limits import QueryLimits, within_response_limit
from services import visibility
from services.availability import unavailable_dependency
from services.errors import NotAuthenticated
from services.viewer import TOKEN_EXPIRED

MAX_BACKLOG = 256  # messages waiting for one slow socket before it is disconnected
ROUND_SLICE = 256  # members written to between two turns of the event loop in a send round
SUBSCRIPTION = StrawberryOperationType.SUBSCRIPTION
INCREMENTAL_REFUSED = "Incremental delivery is not supported over graphql-transport-ws"
UNAVAILABLE_REASON = "Service temporarily unavailable; retry"


class _FieldNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.arguments: set[str] = set()

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.names.add(node.name.value)
        self.arguments.update(argument.name.value for argument in node.arguments or ())


def _parse(query: str | None, limits: QueryLimits) -> DocumentNode | None:
    try:
        return parse(
            query or "",
            max_lexical_tokens=limits.tokens,
            max_comments=limits.tokens,
            max_source_length=limits.characters,
        )
    except GraphQLError:
        return None


def operation_type(
    query: str | None, operation_name: str | None, limits: QueryLimits
) -> OperationType | None:
    """The type of the operation a request runs; None when that is unknown (the document does
    not parse, or names no such operation)."""
    document = _parse(query, limits)
    if document is None:
        return None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            return definition.operation
    return None


@dataclass(frozen=True, slots=True)
class SharingKey:
    """What subscriptions that share one execution have in common."""

    query: str
    variables: str  # JSON, keys sorted
    operation_name: str | None
    audience: Hashable
    whole_state: bool  # every message is the whole state (WHOLE_STATE): joiners get the latest


def sharing_key(
    operation: Asked,
    context: Context,
    limits: QueryLimits,
    per_viewer: frozenset[str] = frozenset(),
    alone: frozenset[str] = frozenset(),
    whole_state: frozenset[str] = frozenset(),
) -> SharingKey | None:
    """Who may share this operation's execution, or None to run it alone."""
    viewer = context.viewer
    if viewer is None:
        return None
    document = _parse(operation.query, limits)
    if document is None:
        return None  # run alone: the schema reports the error
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(definitions) != 1 or definitions[0].operation is not OperationType.SUBSCRIPTION:
        return None
    fields = _FieldNames()
    visit(document, fields)
    if "after" in fields.arguments or fields.names & alone:
        return None
    if visibility.sees_every_ticket(viewer) and not fields.names & per_viewer:
        audience: Hashable = viewer.role.value
    else:
        audience = (viewer.role.value, viewer.id)
    # A str of its own size: orjson's bytes keep a larger buffer, for as long as the key lives.
    variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS).decode()
    return SharingKey(
        operation.query,
        variables,
        operation.operation_name,
        audience,
        bool(fields.names & whole_state),
    )


class Asked(Protocol):
    """What a subscriber asked for (a graphql-transport-ws `Operation`, or `Subscription`)."""

    query: str
    variables: dict[str, object] | None
    operation_name: str | None


@dataclass(slots=True)
class Subscription:
    """A subscription asked for outside a socket (one HTTP stream)."""

    query: str
    variables: dict[str, object] | None
    operation_name: str | None


class Batch:
    """Results of one group that are sent together: each member gets one write for all of them.

    The payloads are encoded once, and a WebSocket member's frames once per operation id: the
    members of a group whose clients number their operations alike share the same bytes.
    """

    __slots__ = ("_frames", "payloads", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts  # each a result's JSON
        self.payloads = [text.encode() for text in texts]
        self._frames: dict[str, bytes] = {}

    def websocket_frames(self, prefix: str) -> bytes:
        """Every result as a graphql-transport-ws `next` message starting with `prefix`, each in
        a server's (unmasked) text frame, back to back."""
        frames = self._frames.get(prefix)
        if frames is None:
            head = prefix.encode()
            parts: list[bytes] = []
            for payload in self.payloads:
                parts += (_frame_header(len(head) + len(payload) + 1), head, payload, b"}")
            frames = self._frames[prefix] = b"".join(parts)
        return frames


def _frame_header(size: int) -> bytes:
    """RFC 6455: FIN + text opcode, then the payload length in 7, 16 or 64 bits (no mask)."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big")
    return b"\x81\x7f" + size.to_bytes(8, "big")


class Member:
    """One subscriber of a group: what it asked for, who asks, and how its messages go out.

    A task only while it lags behind. Subclasses say how a message is framed and written (a
    WebSocket message, an SSE event, a multipart part) and how the subscription ends.
    """

    __slots__ = ("__weakref__", "backlog", "context", "group", "operation", "request", "sender")

    def __init__(self, operation: Asked, context: Context, request: Any) -> None:
        self.operation = operation
        self.context = context
        self.request: Any = request  # the aiohttp request carrying it
        self.group: _Group | None = None  # None once it has left
        self.backlog: deque[str] | None = None  # messages waiting while the client lags
        self.sender: asyncio.Task[None] | None = None

    @property
    def completed(self) -> bool:
        """Its last message is sent (or queued): nothing more goes out."""
        raise NotImplementedError

    def frame(self, payload: str) -> str:
        """The message carrying one result (`payload`, JSON)."""
        raise NotImplementedError

    async def write(self, text: str) -> None:
        """Write messages (one, or several framed back to back)."""
        raise NotImplementedError

    async def finish(self, errors: list[GraphQLFormattedError] | None = None) -> None:
        """The subscription's end: complete, or refused with `errors` before it ran."""
        raise NotImplementedError

    def drained(self) -> None:
        """The messages that waited are all written."""

    def send_now(self, batch: Batch) -> bool:
        """Hand the batch to the client without awaiting anything, if this member can (True);
        False: `deliver` it."""
        return False

    async def deliver(self, batch: Batch) -> None:
        """Hand a batch of `next` payloads to the client without waiting for it.

        Written at once, in one write, when the connection's buffer is empty and the batch is
        below its high-water mark (the write cannot wait for the client to read); otherwise
        queued behind the messages already waiting, which a task of the member's own writes.
        """
        if self.completed:
            return
        texts = [self.frame(payload) for payload in batch.texts]
        text = texts[0] if len(texts) == 1 else "".join(texts)
        if self.backlog is None and self._writable(len(text)):
            with contextlib.suppress(ConnectionResetError, RuntimeError):
                await self.write(text)
            return
        for text in texts:
            self._queue(text)

    def enqueue(self, payload: str) -> None:
        """Queue a `next` payload now, ahead of anything delivered later."""
        if not self.completed:
            self._queue(self.frame(payload))

    def _queue_all(self, batch: Batch) -> None:
        """Queue each result of the batch as a message of its own, behind those waiting."""
        for payload in batch.texts:
            self._queue(self.frame(payload))

    def _queue(self, text: str) -> None:
        if self.backlog is None:
            self.backlog = deque()
            self.sender = asyncio.create_task(self._send_backlog())
        self.backlog.append(text)
        if len(self.backlog) > MAX_BACKLOG:
            self.drop()

    def _writable(self, size: int) -> bool:
        transport = self.request.transport
        if transport is None or transport.is_closing():
            return False
        return transport.get_write_buffer_size() == 0 and size < _high_water(transport)

    async def _send_backlog(self) -> None:
        backlog = self.backlog
        assert backlog is not None
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            while backlog:
                await self.write(backlog.popleft())
        self.backlog = None
        self.sender = None
        self.drained()

    def stop(self) -> None:
        """Forget the messages still waiting (the subscription is over for this member)."""
        if self.sender is not None:
            self.sender.cancel()
        self.backlog = self.sender = None

    def drop(self) -> None:
        """The client does not read: forget its messages and disconnect it."""
        self.stop()
        if self.group is not None:
            self.group.members.discard(self)
            self.group = None
        transport = self.request.transport
        if transport is not None:
            transport.abort()  # a close frame would wait behind what the client never read

    async def send_next(self, payload: str) -> None:
        """A `next` message outside the group's stream (the expiry notice)."""
        if self.completed:
            return
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.write(self.frame(payload))


class _SocketMember(Member):
    """A subscription of a graphql-transport-ws socket.

    Without permessage-deflate, a batch is framed here (once per operation id, see `Batch`) and
    written to the connection at once: one write for the whole batch. A compressed connection
    gets each message from aiohttp's `send_str` (the compressor's state runs across messages).
    """

    __slots__ = ("connection", "handler", "high_water", "prefix", "socket", "ws_operation")

    def __init__(self, handler: SharingHandler, operation: Operation[Context, None]) -> None:
        super().__init__(operation, handler.context, getattr(handler.websocket, "request", None))
        self.handler = handler
        self.ws_operation = operation
        self.socket: Any = getattr(handler.websocket, "ws", None)  # aiohttp WebSocketResponse
        # What every `next` message of this operation starts with: its id framed once.
        op_id = orjson.dumps(operation.id).decode()
        self.prefix = f'{{"id":{op_id},"type":"next","payload":'
        # Read once (not per message): the connection, and how much its buffer takes at once.
        self.connection: asyncio.WriteTransport | None = None
        self.high_water = 0

    @property
    def completed(self) -> bool:
        return self.ws_operation.completed

    def frame(self, payload: str) -> str:
        return f"{self.prefix}{payload}}}"

    async def write(self, text: str) -> None:
        await self.socket.send_str(text)

    def send_now(self, batch: Batch) -> bool:
        if self.ws_operation.completed:
            return True
        socket = self.socket
        if socket is None or socket.compress or socket.closed:
            return False  # aiohttp frames (and compresses) each message, or refuses it
        if self.backlog is not None:
            self._queue_all(batch)
            return True
        connection = self.connection
        if connection is None:
            connection = self.connection = self.request.transport
            if connection is None:
                return True
            self.high_water = _high_water(connection)
        if connection.is_closing():
            return True
        frames = batch.websocket_frames(self.prefix)
        if not connection.get_write_buffer_size() and len(frames) < self.high_water:
            connection.write(frames)
            return True
        # The client lags, or the batch is more than its buffer takes at once: queued.
        self._queue_all(batch)
        return True

    async def deliver(self, batch: Batch) -> None:
        """A compressed connection: each message compressed and written by aiohttp."""
        if self.completed:
            return
        for payload in batch.texts:
            text = self.frame(payload)
            if self.backlog is None and self._writable(len(text)):
                with contextlib.suppress(ConnectionResetError, RuntimeError):
                    await self.write(text)
            else:
                self._queue(text)

    async def finish(self, errors: list[GraphQLFormattedError] | None = None) -> None:
        """The operation's last message (complete or error); the handler forgets it.

        A member that lags gets it after the messages still waiting, without waiting here.
        """
        operation = self.ws_operation
        message: dict[str, Any] = {"id": operation.id, "type": "complete"}
        if errors is not None:
            message = {"id": operation.id, "type": "error", "payload": errors}
        self.handler.members.pop(operation.id, None)
        if self.backlog is not None and not operation.completed:
            operation.completed = True
            self.handler.forget_id(operation.id)
            self.backlog.append(orjson.dumps(message).decode())
            return
        with contextlib.suppress(ConnectionResetError, RuntimeError, KeyError):
            await operation.send_operation_message(message)  # type: ignore[arg-type]


def _high_water(transport: asyncio.WriteTransport) -> int:
    return transport.get_write_buffer_limits()[1] or 64 * 1024


@dataclass(eq=False)
class _Group:
    key: SharingKey | None
    operation: Asked
    context: Context
    members: set[Member] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    latest: str | None = None  # kept when each message is the whole state: joiners get it
    outbox: list[str] = field(default_factory=list)  # results not sent yet, in order
    sender: asyncio.Task[None] | None = None  # sends the outbox, while it has results


class SharedSubscriptions:
    def __init__(
        self, schema: BaseSchema, response_bytes: int = QueryLimits().response_bytes
    ) -> None:
        self._schema = schema
        self._response_bytes = response_bytes
        # Fields whose answer depends on the viewer, from their declarations on the schema.
        self.per_viewer = viewer_dependent_field_names(schema)
        # Subscriptions that push the state now first run for each subscriber (STATE_FIRST).
        self.alone = state_first_field_names(schema)
        # Subscriptions whose latest message a joiner is sent at once (WHOLE_STATE).
        self.whole_state = whole_state_field_names(schema)
        self._groups: dict[SharingKey, _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Token expiries of all members in one heap, swept by one task (a timer per member
        # would cost a context copy each).
        self._expiries: list[tuple[float, int, weakref.ref[Member]]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._sequence = 0

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def key(self, operation: Asked, context: Context, limits: QueryLimits) -> SharingKey | None:
        """`sharing_key` with what this schema declares."""
        return sharing_key(
            operation, context, limits, self.per_viewer, self.alone, self.whole_state
        )

    def join(self, member: Member, key: SharingKey | None) -> _Group:
        """Add the member to the group for `key`, starting the group if it is new; with no key
        (a subscription that may not share), to a group of its own."""
        context = member.context
        group = None if key is None else self._groups.get(key)
        if group is not None:
            member.operation.query = group.operation.query  # one copy of the text per group
            if group.latest is not None:
                member.enqueue(group.latest)  # the state now, before the next change
        else:
            # The group's own context never expires: expiry is each member's.
            group = _Group(key, member.operation, replace(context, expires_at=None))
            group.context.fresh_loaders()
            if key is not None:
                self._groups[key] = group
            group.task = asyncio.create_task(self._drive(group))
        group.members.add(member)
        member.group = group
        if context.expires_at is not None:
            self._sequence += 1
            entry = (context.expires_at, self._sequence, weakref.ref(member))
            heapq.heappush(self._expiries, entry)
            if self._sweeper is None or self._sweeper.done():
                self._sweeper = asyncio.create_task(self._sweep())
        return group

    def leave(self, group: _Group, member: Member) -> None:
        member.stop()
        member.group = None
        group.members.discard(member)
        if not group.members:
            self._end(group)

    async def _sweep(self) -> None:
        """End members whose token expired, soonest first; sleeps until the next expiry."""
        while self._expiries:
            expires_at, _, ref = self._expiries[0]
            wait = expires_at - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))  # re-checked: members come and go
                self._compact()
                continue
            heapq.heappop(self._expiries)
            member = ref()
            if member is not None and member.group is not None:  # still subscribed
                self.leave(member.group, member)
                task = asyncio.create_task(_send_expired(member))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """At shutdown: stop the expiry sweeper (the sockets are closed by the app)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._expiries.clear()

    def _compact(self) -> None:
        """Drop the entries of members gone (a weak reference each) once they are most."""
        if len(self._expiries) > 1024:
            alive = [e for e in self._expiries if (m := e[2]()) is not None and m.group is not None]
            if len(alive) < len(self._expiries) // 2:
                heapq.heapify(alive)
                self._expiries = alive

    def _forget(self, group: _Group) -> None:
        if group.key is not None and self._groups.get(group.key) is group:
            del self._groups[group.key]

    def _end(self, group: _Group) -> None:
        self._forget(group)
        if group.task is not None:
            group.task.cancel()

    async def _drive(self, group: _Group) -> None:
        operation = group.operation
        try:
            source = await self._schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=group.context,
                operation_name=operation.operation_name,
                allowed_operation_types=(SUBSCRIPTION,),
            )
            async with aclosing(source), aclosing(whole_results(source)) as results:
                first = True
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        errors = [error.formatted for error in result.errors or []]
                        await self._finish_all(group, errors)
                        return
                    first = False
                    if not isinstance(result, ExecutionResult):
                        # As Strawberry answers it: `next` has no shape for incremental results.
                        errors = [GraphQLError(INCREMENTAL_REFUSED).formatted]
                        await self._flush(group)
                        await self._finish_all(group, errors)
                        return
                    payload: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        payload["errors"] = [error.formatted for error in result.errors]
                    if result.extensions:
                        payload["extensions"] = result.extensions
                    # once for every member
                    encoded = within_response_limit(payload, self._response_bytes).decode()
                    group.outbox.append(encoded)
                    if group.sender is None:
                        group.sender = asyncio.create_task(self._send(group))
            await self._flush(group)
            await self._finish_all(group)
        finally:
            if group.sender is not None:
                group.sender.cancel()
            self._forget(group)

    async def _flush(self, group: _Group) -> None:
        """Wait until every result of the stream is sent (before its end goes out)."""
        if group.sender is not None:
            await group.sender

    async def _send(self, group: _Group) -> None:
        """Send the group's results in rounds: each round takes every result ready and gives
        each member one write for all of them.

        A task only while there is something to send. Adaptive without a timer: a result that
        finds no round running goes out at once, alone; while a round runs (it yields to the
        loop every `ROUND_SLICE` members, so the stream keeps executing), the results that come
        out wait in the outbox and make the next batch.
        """
        whole_state = group.key is not None and group.key.whole_state
        try:
            while group.outbox:
                batch = Batch(group.outbox)
                group.outbox = []
                if whole_state:
                    # Set as the round starts: a member joining from now on is sent it at
                    # once, and is not among the members this round writes to.
                    group.latest = batch.texts[-1]
                members = list(group.members)
                for index, member in enumerate(members, 1):
                    if member.group is group and not member.send_now(batch):
                        await member.deliver(batch)
                    if not index % ROUND_SLICE:
                        await asyncio.sleep(0)
        finally:
            group.sender = None

    async def _finish_all(
        self, group: _Group, errors: list[GraphQLFormattedError] | None = None
    ) -> None:
        members, group.members = list(group.members), set()
        for member in members:
            member.group = None
            await member.finish(errors)


def _expired() -> GraphQLFormattedError:
    error = NotAuthenticated(TOKEN_EXPIRED)
    return {"message": error.message, "extensions": {"code": error.code}}


async def _send_expired(member: Member) -> None:
    await member.send_next(orjson.dumps({"data": None, "errors": [_expired()]}).decode())
    await member.finish()


class SharingHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with shareable subscriptions routed to `SharedSubscriptions`.

    Every operation starts here, so this is where an expired token is refused: a query, a
    mutation or a subscription (replay or not) sent once the token has expired is answered with
    an `error` message whose code is `UNAUTHENTICATED`, and nothing runs. The socket stays open
    for the protocol's sake, but is good for nothing more: the client reconnects with a fresh token.

    A shared subscription is a member of its group: it has no task of its own, only its entry
    here (`members`).
    """

    shared: SharedSubscriptions
    limits: QueryLimits = QueryLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members: dict[str, tuple[_Group, Member]] = {}

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except Exception as error:
            if unavailable_dependency(error) is None:
                raise
            # Signing in reads the user: during an outage the client is told to come back
            # (1013, Try Again Later) rather than losing the connection without a word.
            await self.websocket.close(code=1013, reason=UNAVAILABLE_REASON)
            return
        if self.connection_acknowledged:
            self.connection_init_timeout_task = None  # cancelled: no need to keep it around

    async def handle_subscribe(self, message: Any) -> None:
        limit = self.max_subscriptions_per_connection
        if (
            not self.connection_acknowledged
            or message["id"] in self.operations
            or (limit is not None and len(self.operations) >= limit)
        ):
            await super().handle_subscribe(message)  # refuses it as the protocol says
            return
        expires_at = self.context.expires_at
        if expires_at is not None and expires_at <= time.time():
            refusal = ErrorMessage(id=message["id"], type="error", payload=[_expired()])
            await self.send_message(refusal)
            return
        payload = message["payload"]
        operation: Operation[Context, None] = Operation(
            self,
            message["id"],
            payload["query"],
            payload.get("variables"),
            payload.get("operationName"),
        )
        key = self.shared.key(operation, self.context, self.limits)
        if key is None:
            await super().handle_subscribe(message)
            return
        member = _SocketMember(self, operation)
        self.operations[operation.id] = operation
        self.members[operation.id] = (self.shared.join(member, key), member)

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        # A client that went away mid-stream is the end of its subscription, not a server error.
        with contextlib.suppress(WebSocketDisconnected):
            async with aclosing(whole_results(result_source)) as results:
                await super()._send_result_stream(operation, results)

    def forget_id(self, id: str) -> None:
        self.operations.pop(id, None)
        self.members.pop(id, None)

    async def cleanup_operation(self, operation_id: str) -> None:
        shared = self.members.pop(operation_id, None)
        if shared is None:
            await super().cleanup_operation(operation_id)
            return
        self.operations.pop(operation_id, None)
        self.shared.leave(*shared)
