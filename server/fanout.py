"""Shared subscriptions: identical subscriptions of viewers who see the same events run once.

Strawberry executes a subscription's selection for every subscriber. Here subscriptions with the
same document, variables and *visibility class* share one execution: each event is resolved and
serialized once, and the same text goes to every socket, wrapped in its own operation id.

Visibility class: all staff see the same events, so they share unless the selection asks for
viewer-dependent fields (`viewerCan`, `me`); a customer shares only with their own other tabs.
Replays (`after`) are per subscriber and never shared. Token expiry stays per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
    visit,
)
from graphql.language import Visitor
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from resolvers.context import Context
from server.limits import QueryLimits
from services.errors import NotAuthenticated

VIEWER_DEPENDENT_FIELDS = frozenset({"viewerCan", "me"})


class _FieldNames(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.arguments: set[str] = set()

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.names.add(node.name.value)
        self.arguments.update(argument.name.value for argument in node.arguments or ())


def sharing_key(
    operation: Operation[Context, None], context: Context, limits: QueryLimits
) -> Hashable | None:
    """Who may share this operation's execution, or None to run it alone."""
    viewer = context.viewer
    if viewer is None:
        return None
    try:
        document: DocumentNode = parse(
            operation.query,
            max_lexical_tokens=limits.tokens,
            max_comments=limits.tokens,
            max_source_length=limits.characters,
        )
    except GraphQLError:
        return None  # run alone: the schema reports the error
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(definitions) != 1 or definitions[0].operation is not OperationType.SUBSCRIPTION:
        return None
    fields = _FieldNames()
    visit(document, fields)
    if "after" in fields.arguments:
        return None
    if viewer.is_staff and not fields.names & VIEWER_DEPENDENT_FIELDS:
        audience: Hashable = "staff"
    else:
        audience = (viewer.role.value, viewer.id)
    variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS)
    return (operation.query, variables, operation.operation_name, audience)


@dataclass(eq=False)
class _Member:
    operation: Operation[Context, None]
    socket: Any  # aiohttp WebSocketResponse
    expires_at: float | None

    async def send_next(self, payload: str) -> None:
        if self.operation.completed:
            return
        op_id = orjson.dumps(self.operation.id).decode()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await self.socket.send_str(f'{{"id":{op_id},"type":"next","payload":{payload}}}')


@dataclass(eq=False)
class _Group:
    key: Hashable
    operation: Operation[Context, None]
    context: Context
    members: set[_Member] = field(default_factory=set)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class SharedSubscriptions:
    def __init__(self, schema: BaseSchema) -> None:
        self._schema = schema
        self._groups: dict[Hashable, _Group] = {}

    @property
    def group_count(self) -> int:
        return len(self._groups)

    async def run(
        self,
        handler: BaseGraphQLTransportWSHandler[Context, None],
        operation: Operation[Context, None],
        key: Hashable,
    ) -> None:
        """Join (or start) the group for `key` until it ends, the client completes the operation,
        or the member's token expires."""
        context: Context = handler.context
        group = self._groups.get(key)
        if group is None:
            # The group's own context never expires: expiry is each member's.
            group = _Group(key, operation, replace(context, expires_at=None))
            group.context.fresh_loaders()
            self._groups[key] = group
            group.task = asyncio.create_task(self._drive(group))
        member = _Member(operation, getattr(handler.websocket, "ws", None), context.expires_at)
        group.members.add(member)
        try:
            timeout = None if member.expires_at is None else member.expires_at - time.time()
            try:
                await asyncio.wait_for(group.finished.wait(), timeout)
            except TimeoutError:
                group.members.discard(member)
                await _send_expired(member)
        finally:
            group.members.discard(member)
            if not group.members and not group.finished.is_set():
                self._end(group)

    def _end(self, group: _Group) -> None:
        if self._groups.get(group.key) is group:
            del self._groups[group.key]
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
            )
            async with aclosing(source):
                first = True
                async for result in source:
                    if first and isinstance(result, PreExecutionError):
                        for member in list(group.members):
                            await member.operation.send_initial_errors(result.errors or [])
                        return
                    first = False
                    if not isinstance(result, ExecutionResult):
                        continue
                    payload: dict[str, Any] = {"data": result.data}
                    if result.errors:
                        payload["errors"] = [error.formatted for error in result.errors]
                    encoded = orjson.dumps(payload).decode()  # once for every member
                    for member in list(group.members):
                        await member.send_next(encoded)
            for member in list(group.members):
                await member.operation.send_operation_message(
                    {"id": member.operation.id, "type": "complete"}
                )
        finally:
            group.finished.set()
            if self._groups.get(group.key) is group:
                del self._groups[group.key]


async def _send_expired(member: _Member) -> None:
    error = NotAuthenticated("The token expired: reconnect with a fresh token.")
    formatted = {"message": error.message, "extensions": {"code": error.code}}
    await member.send_next(orjson.dumps({"data": None, "errors": [formatted]}).decode())
    await member.operation.send_operation_message({"id": member.operation.id, "type": "complete"})


class SharingHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with shareable subscriptions routed to `SharedSubscriptions`."""

    shared: SharedSubscriptions
    limits: QueryLimits = QueryLimits()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        key = sharing_key(operation, self.context, self.limits)
        if key is None:
            await super().run_operation(operation)
            return
        try:
            await self.shared.run(self, operation, key)
        finally:
            self.operations.pop(operation.id, None)
