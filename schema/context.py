"""What the schema's fields need from `info.context`: the request's loaders.

The resolvers' context satisfies this protocol; mypy checks it where the schema is assembled,
and the schema never imports the resolvers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol, TypeVar

import strawberry

if TYPE_CHECKING:
    from schema.types import (
        Attachment,
        Category,
        Message,
        RecategorizationRequest,
        Ticket,
        TicketEvent,
        TicketPermissions,
        User,
    )

K = TypeVar("K", contravariant=True)
V = TypeVar("V", covariant=True)


class Loads(Protocol[K, V]):
    """A batching loader: one key in, its value later."""

    def load(self, key: K, /) -> Awaitable[V]: ...


class FieldLoaders(Protocol):
    """The per-request loaders the object types resolve their relations through."""

    @property
    def tickets(self) -> Loads[int, Ticket | None]: ...
    @property
    def messages(self) -> Loads[tuple[int, int], list[Message]]: ...
    @property
    def last_message(self) -> Loads[int, Message | None]: ...
    @property
    def message(self) -> Loads[int, Message | None]: ...
    @property
    def events(self) -> Loads[tuple[int, int], list[TicketEvent]]: ...
    @property
    def pending_request(self) -> Loads[int, RecategorizationRequest | None]: ...
    @property
    def request(self) -> Loads[int, RecategorizationRequest | None]: ...
    @property
    def ticket_attachments(self) -> Loads[int, list[Attachment]]: ...
    @property
    def message_attachments(self) -> Loads[int, list[Attachment]]: ...

    # `user` and `category` answer right away when the value is at hand (a synchronous field
    # stays on the fast path) and an awaitable of it otherwise; graphql-core awaits either.
    def user(self, user_id: str) -> User: ...
    def category(self, category_id: int) -> Category: ...
    async def category_children(self, category_id: int) -> list[Category]: ...
    async def permissions(self, ticket: Ticket) -> TicketPermissions: ...


class FieldContext(Protocol):
    """What `info.context` offers the schema's fields."""

    @property
    def loaders(self) -> FieldLoaders: ...


Info = strawberry.Info[FieldContext, None]
