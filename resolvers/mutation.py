"""Root mutation fields: each takes one `input` and returns a payload with `errors`."""

from __future__ import annotations

import strawberry

from resolvers import mappers
from resolvers.context import Info
from schema.inputs import CreateTicketInput, ReplyToTicketInput
from schema.payloads import CreateTicketPayload, ReplyToTicketPayload
from schema.types import UserError
from services import tickets
from services.errors import ErrorCode, UserInputError
from services.viewer import require_viewer


def user_errors(error: UserInputError) -> list[UserError]:
    return [UserError(code=e.code, field=e.field, message=e.message) for e in error.errors]


def _id_or_not_found(value: str, field: str) -> int:
    parsed = mappers.parse_id(value)
    if parsed is None:
        raise UserInputError(ErrorCode.NOT_FOUND, "Ticket not found.", field)
    return parsed


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Open a ticket in a section or question type.")
    async def create_ticket(self, info: Info, input: CreateTicketInput) -> CreateTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        try:
            follow_up_of = (
                None
                if input.follow_up_of is None
                else _id_or_not_found(input.follow_up_of, "followUpOf")
            )
            ticket = await tickets.create_ticket(
                viewer=ctx.viewer,
                broker=ctx.broker,
                category_slug=input.category_slug,
                question=input.question,
                summary=input.summary,
                urgent=input.urgent,
                follow_up_of=follow_up_of,
                client_mutation_id=input.client_mutation_id,
            )
        except UserInputError as error:
            return CreateTicketPayload(
                ticket=None, errors=user_errors(error), client_mutation_id=input.client_mutation_id
            )
        return CreateTicketPayload(
            ticket=mappers.ticket(ticket), errors=[], client_mutation_id=input.client_mutation_id
        )

    @strawberry.mutation(description="Add a message to a ticket's conversation.")
    async def reply_to_ticket(self, info: Info, input: ReplyToTicketInput) -> ReplyToTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        try:
            reply = await tickets.reply_to_ticket(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                body=input.body,
                internal=input.internal,
                await_customer_reply=input.await_customer_reply,
                client_mutation_id=input.client_mutation_id,
            )
        except UserInputError as error:
            return ReplyToTicketPayload(
                ticket=None,
                message=None,
                errors=user_errors(error),
                client_mutation_id=input.client_mutation_id,
            )
        return ReplyToTicketPayload(
            ticket=mappers.ticket(reply.ticket),
            message=mappers.message(reply.message),
            errors=[],
            client_mutation_id=input.client_mutation_id,
        )
