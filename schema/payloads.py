"""Mutation payloads: the changed object, or `errors` saying why nothing changed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.types import (
    Attachment,
    Message,
    RecategorizationRequest,
    SatisfactionRating,
    SlaPolicy,
    Ticket,
    UserError,
)

_ERRORS = "Why nothing changed; empty on success."
_ECHO = "The input's clientMutationId, returned unchanged."
_TICKET = "The ticket after the change; null when there are errors."
# Every field of a payload has a default: a payload refusing the change is built from `errors`
# alone (see `resolvers.mutation.PayloadErrors`), a successful one without `errors`.


@strawberry.type(description="Result of createTicket: the new ticket, or why none was created.")
class CreateTicketPayload:
    ticket: Ticket | None = strawberry.field(
        default=None,
        description="The new ticket (the first one when the idempotency key repeats); null on "
        "errors.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    client_mutation_id: str | None = strawberry.field(default=None, description=_ECHO)


@strawberry.type(description="Result of replyToTicket: the new message, or why none was added.")
class ReplyToTicketPayload:
    ticket: Ticket | None = strawberry.field(
        default=None,
        description="The ticket after the reply (its status may have changed); null on errors.",
    )
    message: Message | None = strawberry.field(
        default=None, description="The message added; null when there are errors."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    client_mutation_id: str | None = strawberry.field(default=None, description=_ECHO)


@strawberry.type(description="Result of takeTicket.")
class TakeTicketPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of changeTicketStatus.")
class ChangeTicketStatusPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of assignTicket.")
class AssignTicketPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of setTicketUrgent.")
class SetTicketUrgentPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of markRecommendedSolution.")
class MarkRecommendedSolutionPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of recategorizeTicket: a changed category or a request.")
class RecategorizeTicketPayload:
    ticket: Ticket | None = strawberry.field(
        default=None,
        description="The ticket (category unchanged when only a request was made); null on errors.",
    )
    request: RecategorizationRequest | None = strawberry.field(
        default=None,
        description="Set when the change became a request waiting for the assigned agent.",
    )
    applied: bool = strawberry.field(
        default=False, description="Whether the category changed right away."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of approveRecategorization.")
class ApproveRecategorizationPayload:
    ticket: Ticket | None = strawberry.field(
        default=None, description="The ticket in its new category; null when there are errors."
    )
    request: RecategorizationRequest | None = strawberry.field(
        default=None, description="The request, now APPROVED; null when there are errors."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of declineRecategorization.")
class DeclineRecategorizationPayload:
    ticket: Ticket | None = strawberry.field(
        default=None, description="The ticket, category unchanged; null when there are errors."
    )
    request: RecategorizationRequest | None = strawberry.field(
        default=None, description="The request, now DECLINED; null when there are errors."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of uploadAttachment: the stored file, or why it was refused.")
class UploadAttachmentPayload:
    attachment: Attachment | None = strawberry.field(
        default=None,
        description="The upload; pass its id in attachmentIds before it expires. Null on errors.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of rateTicket: the rating, or why it was refused.")
class RateTicketPayload:
    ticket: Ticket | None = strawberry.field(default=None, description=_TICKET)
    satisfaction: SatisfactionRating | None = strawberry.field(
        default=None, description="The rating now on the ticket; null when there are errors."
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    client_mutation_id: str | None = strawberry.field(default=None, description=_ECHO)


@strawberry.type(description="Result of markTicketRead: the ticket as the viewer now reads it.")
class MarkTicketReadPayload:
    ticket: Ticket | None = strawberry.field(
        default=None,
        description="The ticket, with the viewer's unreadCount and lastReadAt after the mark; "
        "null when there are errors.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    client_mutation_id: str | None = strawberry.field(default=None, description=_ECHO)


@strawberry.type(description="Result of setSlaPolicy: the new policy, or why it was refused.")
class SetSlaPolicyPayload:
    sla_policy: SlaPolicy | None = strawberry.field(
        default=None,
        description="The policy now current (for tickets created from now on); null on errors.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)


@strawberry.type(description="Result of reportTyping: until when the viewer shows as typing.")
class ReportTypingPayload:
    typing_until: datetime | None = strawberry.field(
        default=None,
        description="When the viewer stops showing as typing unless they report again; null on "
        "errors.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list, description=_ERRORS)
    client_mutation_id: str | None = strawberry.field(default=None, description=_ECHO)
