"""Mutation payloads: the changed object, or `errors` saying why nothing changed."""

from __future__ import annotations

import strawberry

from schema.types import Message, Ticket, UserError


@strawberry.type
class CreateTicketPayload:
    ticket: Ticket | None
    errors: list[UserError]
    client_mutation_id: str | None = None


@strawberry.type
class ReplyToTicketPayload:
    ticket: Ticket | None
    message: Message | None
    errors: list[UserError]
    client_mutation_id: str | None = None
