"""Root mutation fields: each takes one `input` and returns a payload with `errors`.

Resolvers raise `UserInputError` for what cannot be done as asked; `PayloadErrors`, on every
mutation, turns it into the payload's `errors`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from resolvers import mappers
from resolvers.context import Info
from schema.inputs import (
    ApproveRecategorizationInput,
    AssignTicketInput,
    ChangeTicketStatusInput,
    CreateTicketInput,
    DeclineRecategorizationInput,
    MarkRecommendedSolutionInput,
    MarkTicketReadInput,
    RateTicketInput,
    RecategorizeTicketInput,
    ReplyToTicketInput,
    ReportTypingInput,
    SetSlaPolicyInput,
    SetTicketUrgentInput,
    TakeTicketInput,
    UploadAttachmentInput,
)
from schema.payloads import (
    ApproveRecategorizationPayload,
    AssignTicketPayload,
    ChangeTicketStatusPayload,
    CreateTicketPayload,
    DeclineRecategorizationPayload,
    MarkRecommendedSolutionPayload,
    MarkTicketReadPayload,
    RateTicketPayload,
    RecategorizeTicketPayload,
    ReplyToTicketPayload,
    ReportTypingPayload,
    SetSlaPolicyPayload,
    SetTicketUrgentPayload,
    TakeTicketPayload,
    UploadAttachmentPayload,
)
from schema.types import UserError
from services import (
    attachments,
    rate_limit,
    read_state,
    satisfaction,
    sla,
    ticket_changes,
    ticket_work,
)
from services.errors import ErrorCode, UserInputError
from services.validation import ATTACHMENT, EVENT, MESSAGE, REQUEST, TICKET, as_id, as_user_ref
from services.viewer import require_viewer


def user_errors(error: UserInputError) -> list[UserError]:
    retry_after = error.retry_after if isinstance(error, rate_limit.RateLimited) else None
    return [
        UserError(code=e.code, field=e.field, message=e.message, retry_after=retry_after)
        for e in error.errors
    ]


class PayloadErrors(FieldExtension):
    """Every mutation's one error boundary, as Saleor's BaseMutation: a `UserInputError` raised
    while it runs (a service's refusal, an unknown id) becomes its payload's `errors`, every other
    field of the payload keeping the default its type declares and `clientMutationId` echoed.

    It spends from the caller's mutation budget first; when that is empty the payload says
    RATE_LIMITED (with retryAfter, and a Retry-After header over HTTP) and nothing runs."""

    def apply(self, field: StrawberryField) -> None:
        self.field = field

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        ctx = info.context
        try:
            await rate_limit.check_mutation(ctx.rate_limiter, ctx.viewer)
        except rate_limit.RateLimited as error:
            ctx.retry_after(error.retry_after)
            return self.refused(error, kwargs.get("input"))
        try:
            return await next_(source, info, **kwargs)
        except UserInputError as error:
            return self.refused(error, kwargs.get("input"))

    def refused(self, error: UserInputError, input: Any) -> Any:
        payload: Any = self.field.type
        fields = {f.python_name for f in payload.__strawberry_definition__.fields}
        echo = (
            {"client_mutation_id": getattr(input, "client_mutation_id", None)}
            if "client_mutation_id" in fields
            else {}
        )
        return payload(errors=user_errors(error), **echo)


def mutation(description: str) -> Any:
    return strawberry.mutation(description=description, extensions=[PayloadErrors()])


def _id_or_not_found(value: str, field: str, type_name: str = TICKET, what: str = "Ticket") -> int:
    """The key of the `type_name` object a global id names; NOT_FOUND on `field` otherwise (an
    id of another type, or malformed, names nothing, like an unknown one)."""
    parsed = as_id(value, type_name)
    if parsed is None:
        raise UserInputError(ErrorCode.NOT_FOUND, f"{what} not found.", field)
    return parsed


def _attachment_ids(values: list[strawberry.ID] | None) -> list[int]:
    return [_id_or_not_found(v, "attachmentIds", ATTACHMENT, "Attachment") for v in values or []]


P = TypeVar(
    "P",
    TakeTicketPayload,
    ChangeTicketStatusPayload,
    AssignTicketPayload,
    SetTicketUrgentPayload,
    MarkRecommendedSolutionPayload,
)
D = TypeVar("D", ApproveRecategorizationPayload, DeclineRecategorizationPayload)


async def _ticket_change(info: Info, payload: type[P], change: Callable[[], Awaitable[Any]]) -> P:
    """Run one ticket use case and put the changed ticket in the payload."""
    require_viewer(info.context.viewer)
    return payload(ticket=mappers.ticket(await change()))


@strawberry.type(
    description="Changes. Each takes one `input` and returns a payload whose `errors` say why "
    "nothing changed."
)
class Mutation:
    @mutation(description="Open a ticket in a section or question type.")
    async def create_ticket(
        self,
        info: Info,
        input: Annotated[CreateTicketInput, strawberry.argument(description="The ticket to open.")],
    ) -> CreateTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        follow_up = input.follow_up_of
        follow_up_id = None if follow_up is None else _id_or_not_found(follow_up, "followUpOf")
        ticket = await ticket_changes.create_ticket(
            viewer=ctx.viewer,
            broker=ctx.broker,
            category_slug=input.category_slug,
            question=input.question,
            summary=input.summary,
            urgent=input.urgent,
            follow_up_of=follow_up_id,
            attachment_ids=_attachment_ids(input.attachment_ids),
            limits=ctx.limits,
            client_mutation_id=input.client_mutation_id,
        )
        return CreateTicketPayload(
            ticket=mappers.ticket(ticket), client_mutation_id=input.client_mutation_id
        )

    @mutation(description="Add a message to a ticket's conversation.")
    async def reply_to_ticket(
        self,
        info: Info,
        input: Annotated[
            ReplyToTicketInput,
            strawberry.argument(description="The ticket and the message to add."),
        ],
    ) -> ReplyToTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        reply = await ticket_changes.reply_to_ticket(
            viewer=ctx.viewer,
            broker=ctx.broker,
            ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
            body=input.body,
            internal=input.internal,
            await_customer_reply=input.await_customer_reply,
            attachment_ids=_attachment_ids(input.attachment_ids),
            limits=ctx.limits,
            client_mutation_id=input.client_mutation_id,
        )
        return ReplyToTicketPayload(
            ticket=mappers.ticket(reply.ticket),
            message=mappers.message(reply.message),
            client_mutation_id=input.client_mutation_id,
        )

    @mutation(
        description="Upload a file (GraphQL multipart request); pass its id as attachmentIds."
    )
    async def upload_attachment(
        self,
        info: Info,
        input: Annotated[
            UploadAttachmentInput, strawberry.argument(description="The file to upload.")
        ],
    ) -> UploadAttachmentPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        stored = await attachments.upload(
            viewer=ctx.viewer, storage=ctx.storage, limits=ctx.limits, incoming=input.file
        )
        return UploadAttachmentPayload(attachment=mappers.attachment(stored))

    @mutation(description="Agents: take an OPEN ticket into work (assigns it to you).")
    async def take_ticket(
        self,
        info: Info,
        input: Annotated[
            TakeTicketInput, strawberry.argument(description="The ticket to take into work.")
        ],
    ) -> TakeTicketPayload:
        ctx = info.context
        return await _ticket_change(
            info,
            TakeTicketPayload,
            lambda: ticket_work.take_ticket(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                expected_version=input.expected_version,
            ),
        )

    @mutation(description="Move a ticket along a legal status transition.")
    async def change_ticket_status(
        self,
        info: Info,
        input: Annotated[
            ChangeTicketStatusInput,
            strawberry.argument(description="The ticket and its new status."),
        ],
    ) -> ChangeTicketStatusPayload:
        ctx = info.context
        return await _ticket_change(
            info,
            ChangeTicketStatusPayload,
            lambda: ticket_work.change_ticket_status(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                status=input.status,
                reason=input.reason,
                expected_version=input.expected_version,
            ),
        )

    @mutation(description="Admins, or the assigned agent handing over: assign a ticket.")
    async def assign_ticket(
        self,
        info: Info,
        input: Annotated[
            AssignTicketInput, strawberry.argument(description="The ticket and its new assignee.")
        ],
    ) -> AssignTicketPayload:
        ctx = info.context
        return await _ticket_change(
            info,
            AssignTicketPayload,
            lambda: ticket_work.assign_ticket(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                assignee_id=as_user_ref(input.assignee_id),
                expected_version=input.expected_version,
            ),
        )

    @mutation(description="Mark a ticket urgent (Срочно) or not.")
    async def set_ticket_urgent(
        self,
        info: Info,
        input: Annotated[
            SetTicketUrgentInput, strawberry.argument(description="The ticket and its new urgency.")
        ],
    ) -> SetTicketUrgentPayload:
        ctx = info.context
        return await _ticket_change(
            info,
            SetTicketUrgentPayload,
            lambda: ticket_work.set_ticket_urgent(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                urgent=input.urgent,
                expected_version=input.expected_version,
            ),
        )

    @mutation(description="Agents: recommend a support reply as the solution.")
    async def mark_recommended_solution(
        self,
        info: Info,
        input: Annotated[
            MarkRecommendedSolutionInput,
            strawberry.argument(description="The ticket and the reply to recommend."),
        ],
    ) -> MarkRecommendedSolutionPayload:
        ctx = info.context
        return await _ticket_change(
            info,
            MarkRecommendedSolutionPayload,
            lambda: ticket_work.mark_recommended_solution(
                viewer=ctx.viewer,
                broker=ctx.broker,
                ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
                message_id=None
                if input.message_id is None
                else _id_or_not_found(input.message_id, "messageId", MESSAGE, "Message"),
                expected_version=input.expected_version,
            ),
        )

    @mutation(
        description="Change a ticket's category. For the owner of a ticket in work this creates "
        "a request for the assigned agent (see `request` and `applied`)."
    )
    async def recategorize_ticket(
        self,
        info: Info,
        input: Annotated[
            RecategorizeTicketInput,
            strawberry.argument(description="The ticket and its new category."),
        ],
    ) -> RecategorizeTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        result = await ticket_work.recategorize_ticket(
            viewer=ctx.viewer,
            broker=ctx.broker,
            ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
            category_slug=input.category_slug,
            expected_version=input.expected_version,
        )
        return RecategorizeTicketPayload(
            ticket=mappers.ticket(result.ticket),
            request=mappers.request(result.request) if result.request else None,
            applied=result.applied,
        )

    @mutation(description="The assigned agent or an admin accepts a category request.")
    async def approve_recategorization(
        self,
        info: Info,
        input: Annotated[
            ApproveRecategorizationInput,
            strawberry.argument(description="The request to approve, with an optional comment."),
        ],
    ) -> ApproveRecategorizationPayload:
        return await _decide(
            info, ApproveRecategorizationPayload, input.request_id, input.comment, True
        )

    @mutation(description="The assigned agent or an admin refuses a category request.")
    async def decline_recategorization(
        self,
        info: Info,
        input: Annotated[
            DeclineRecategorizationInput,
            strawberry.argument(description="The request to decline, with an optional comment."),
        ],
    ) -> DeclineRecategorizationPayload:
        return await _decide(
            info, DeclineRecategorizationPayload, input.request_id, input.comment, False
        )

    @mutation(
        description="The owner rates a CLOSED ticket 1 to 5 within the rating window after it "
        "closed; rating again replaces the rating."
    )
    async def rate_ticket(
        self,
        info: Info,
        input: Annotated[
            RateTicketInput, strawberry.argument(description="The ticket and its rating.")
        ],
    ) -> RateTicketPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        rated = await satisfaction.rate_ticket(
            viewer=ctx.viewer,
            broker=ctx.broker,
            ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
            score=input.score,
            comment=input.comment,
            window=ctx.rating_window,
            client_mutation_id=input.client_mutation_id,
        )
        return RateTicketPayload(
            ticket=mappers.ticket(rated.ticket),
            satisfaction=mappers.rating(rated.rating),
            client_mutation_id=input.client_mutation_id,
        )

    @mutation(
        description="The viewer has read the ticket up to an event (default: its newest): their "
        "unreadCount drops, on every device. A mark already further on stays (never backwards)."
    )
    async def mark_ticket_read(
        self,
        info: Info,
        input: Annotated[
            MarkTicketReadInput, strawberry.argument(description="The ticket and how far.")
        ],
    ) -> MarkTicketReadPayload:
        ctx = info.context
        require_viewer(ctx.viewer)
        up_to = input.up_to_event_id
        ticket = await read_state.mark_ticket_read(
            viewer=ctx.viewer,
            broker=ctx.broker,
            ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
            up_to_event_id=None
            if up_to is None
            else _id_or_not_found(up_to, "upToEventId", EVENT, "Event"),
            client_mutation_id=input.client_mutation_id,
        )
        return MarkTicketReadPayload(
            ticket=mappers.ticket(ticket), client_mutation_id=input.client_mutation_id
        )

    @mutation(
        description="The viewer is typing a reply in a ticket they may see: those watching "
        "ticketPresence see it for the next few seconds (the server sets how long). Send it "
        "again while typing goes on."
    )
    async def report_typing(
        self,
        info: Info,
        input: Annotated[
            ReportTypingInput, strawberry.argument(description="The ticket typed in.")
        ],
    ) -> ReportTypingPayload:
        ctx = info.context
        viewer = require_viewer(ctx.viewer)
        assert ctx.presence is not None
        until = await ctx.presence.report_typing(
            viewer=viewer,
            ticket_id=_id_or_not_found(input.ticket_id, "ticketId"),
            client_mutation_id=input.client_mutation_id,
        )
        return ReportTypingPayload(typing_until=until, client_mutation_id=input.client_mutation_id)

    @mutation(
        description="Admins: the SLA policy of a leaf category and urgency, for tickets created "
        "from now on (open tickets keep their due times until recategorized or re-prioritized)."
    )
    async def set_sla_policy(
        self,
        info: Info,
        input: Annotated[
            SetSlaPolicyInput, strawberry.argument(description="The category, urgency and times.")
        ],
    ) -> SetSlaPolicyPayload:
        hours = input.business_hours
        policy = await sla.set_policy(
            viewer=info.context.viewer,
            category_slug=input.category_slug,
            urgent=input.urgent,
            first_response_minutes=input.first_response_minutes,
            resolution_minutes=input.resolution_minutes,
            business_hours=None
            if hours is None
            else sla.RequestedHours(hours.time_zone, hours.weekdays, hours.start, hours.end),
        )
        return SetSlaPolicyPayload(sla_policy=mappers.sla_policy(policy))


async def _decide(
    info: Info, payload: type[D], request_id: str, comment: str | None, approve: bool
) -> D:
    ctx = info.context
    require_viewer(ctx.viewer)
    ticket, request = await ticket_work.decide_recategorization(
        viewer=ctx.viewer,
        broker=ctx.broker,
        request_id=_id_or_not_found(request_id, "requestId", REQUEST, "Recategorization request"),
        approve=approve,
        comment=comment,
    )
    return payload(ticket=mappers.ticket(ticket), request=mappers.request(request))
