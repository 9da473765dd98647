"""Mutation payloads: the changed object, or `errors` saying why nothing changed."""

from __future__ import annotations

import strawberry

from schema.types import Attachment, Message, RecategorizationRequest, Ticket, UserError


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


@strawberry.type
class TakeTicketPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class ChangeTicketStatusPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class AssignTicketPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class SetTicketUrgentPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class MarkRecommendedSolutionPayload:
    ticket: Ticket | None
    errors: list[UserError]


@strawberry.type
class RecategorizeTicketPayload:
    ticket: Ticket | None
    request: RecategorizationRequest | None = strawberry.field(
        description="Set when the change became a request waiting for the assigned agent."
    )
    applied: bool = strawberry.field(description="Whether the category changed right away.")
    errors: list[UserError]


@strawberry.type
class ApproveRecategorizationPayload:
    ticket: Ticket | None
    request: RecategorizationRequest | None
    errors: list[UserError]


@strawberry.type
class DeclineRecategorizationPayload:
    ticket: Ticket | None
    request: RecategorizationRequest | None
    errors: list[UserError]


@strawberry.type
class UploadAttachmentPayload:
    attachment: Attachment | None
    errors: list[UserError]
