"""Who may do what to a ticket. Mutations enforce these decisions; `viewerCan` reports them.

Visibility comes first and is not decided here: a ticket the viewer may not see is NOT_FOUND.
- Final tickets (CLOSED, REJECTED) take no change at all: TICKET_FINAL.
- Customers: reply to their tickets; withdraw (close) an OPEN one; recategorize an OPEN one, or ask
  for a recategorization while it is in work; set its urgency.
- Customers rate their own CLOSED tickets within the rating window (the only change a final
  ticket takes).
- Agents: reply and add internal notes anywhere; take and work OPEN tickets. Once a ticket is
  assigned, its status, category, recategorization requests and hand-over belong to the assigned
  agent (or an admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from models import Role, TicketStatus
from services.errors import ErrorCode, Forbidden, UserInputError
from services.viewer import Viewer
from services.workflow import TRANSITIONS, final_message, is_final, transition_message

S = TicketStatus
IN_WORK = frozenset({S.IN_PROGRESS, S.AWAITING_REPLY})


class TicketState(Protocol):
    @property
    def number(self) -> int: ...
    @property
    def status(self) -> TicketStatus: ...
    @property
    def owner_id(self) -> str: ...
    @property
    def assignee_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """The facts policy decides on, for callers that hold no stored ticket."""

    number: int
    status: TicketStatus
    owner_id: str
    assignee_id: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str | None = None
    code: ErrorCode | None = None
    field: str | None = None

    def enforce(self) -> None:
        """Raise the error this refusal stands for."""
        if self.allowed:
            return
        assert self.code is not None and self.reason is not None
        if self.code is ErrorCode.FORBIDDEN:
            raise Forbidden(self.reason)
        raise UserInputError(self.code, self.reason, self.field)


ALLOW = Decision(True)


def _forbid(reason: str) -> Decision:
    return Decision(False, reason, ErrorCode.FORBIDDEN)


def _final(ticket: TicketState, action: str) -> Decision:
    message = final_message(ticket.number, ticket.status, action)
    return Decision(False, message, ErrorCode.TICKET_FINAL, "ticketId")


def _invalid(current: TicketStatus, target: TicketStatus, field: str = "status") -> Decision:
    message = transition_message(current, target)
    return Decision(False, message, ErrorCode.INVALID_TRANSITION, field)


def _works_on(viewer: Viewer, ticket: TicketState) -> Decision:
    """Staff may act on an OPEN ticket; an assigned one belongs to its agent or an admin."""
    if not viewer.is_staff:
        return _forbid("Only support agents can do this.")
    if ticket.assignee_id in (None, viewer.id) or viewer.role is Role.ADMIN:
        return ALLOW
    return _forbid(f"Ticket #{ticket.number} is assigned to another agent.")


def is_owner(viewer: Viewer, ticket: TicketState) -> bool:
    return ticket.owner_id == viewer.id


def reply(viewer: Viewer, ticket: TicketState) -> Decision:
    if is_final(ticket.status):
        return _final(ticket, "replying")
    if viewer.is_staff or is_owner(viewer, ticket):
        return ALLOW
    return _forbid("Only the ticket's owner and support agents can reply.")


def change_status(
    viewer: Viewer, ticket: TicketState, target: TicketStatus, field: str = "status"
) -> Decision:
    """Legal transitions only; the owner may only withdraw an OPEN ticket."""
    if is_final(ticket.status):
        return _final(ticket, "changing the status")
    if target not in TRANSITIONS[ticket.status]:
        return _invalid(ticket.status, target, field)
    if not viewer.is_staff:
        if is_owner(viewer, ticket) and ticket.status is S.OPEN and target is S.CLOSED:
            return ALLOW
        return _forbid("Customers can only withdraw (close) a ticket that is still OPEN.")
    return _works_on(viewer, ticket)


def take(viewer: Viewer, ticket: TicketState) -> Decision:
    if not viewer.is_staff:
        return _forbid("Only support agents can take tickets into work.")
    if is_final(ticket.status):
        return _final(ticket, "taking it into work")
    if ticket.status is not S.OPEN:
        return Decision(
            False,
            f"Only OPEN tickets can be taken into work; this one is {ticket.status.value}.",
            ErrorCode.INVALID_TRANSITION,
            "ticketId",
        )
    return ALLOW


def change_any_status(viewer: Viewer, ticket: TicketState) -> Decision:
    """Whether at least one status change is open to the viewer (for `viewerCan`)."""
    decisions = [change_status(viewer, ticket, t) for t in TRANSITIONS[ticket.status]]
    for decision in decisions:
        if decision.allowed:
            return decision
    if decisions:
        return decisions[0]
    return _final(ticket, "changing the status")


def recategorize(viewer: Viewer, ticket: TicketState) -> Decision:
    """Change the category directly: owner or staff before processing; the agent during it."""
    if is_final(ticket.status):
        return _final(ticket, "changing the category")
    if viewer.is_staff:
        return _works_on(viewer, ticket)
    if not is_owner(viewer, ticket):
        return _forbid("Only the ticket's owner can change its category.")
    if ticket.status is S.OPEN:
        return ALLOW
    return _forbid(
        "The ticket is in work: a category change needs the specialist's agreement. "
        "Send it as a recategorization request."
    )


def request_recategorization(viewer: Viewer, ticket: TicketState, *, has_pending: bool) -> Decision:
    """The owner of a ticket in work asks the agent; one pending request at a time."""
    if is_final(ticket.status):
        return _final(ticket, "changing the category")
    if viewer.is_staff or not is_owner(viewer, ticket):
        return _forbid("Only the ticket's owner asks for a recategorization.")
    if ticket.status not in IN_WORK:
        return Decision(
            False,
            "The ticket is not in work yet: change its category directly.",
            ErrorCode.INVALID_TRANSITION,
            "ticketId",
        )
    if has_pending:
        return Decision(
            False,
            "A recategorization request for this ticket is already waiting for the agent.",
            ErrorCode.REQUEST_PENDING,
            "ticketId",
        )
    return ALLOW


def decide_recategorization(viewer: Viewer, ticket: TicketState) -> Decision:
    if is_final(ticket.status):
        return _final(ticket, "changing the category")
    if not viewer.is_staff:
        return _forbid("Only the assigned agent or an admin decides recategorization requests.")
    if viewer.role is Role.ADMIN or ticket.assignee_id == viewer.id:
        return ALLOW
    return _forbid("Only the assigned agent or an admin decides recategorization requests.")


def assign(viewer: Viewer, ticket: TicketState) -> Decision:
    """An admin assigns anyone; the assigned agent may hand the ticket over."""
    if is_final(ticket.status):
        return _final(ticket, "reassigning")
    if viewer.role is Role.ADMIN:
        return ALLOW
    if viewer.is_staff and ticket.assignee_id == viewer.id:
        return ALLOW
    return _forbid("Only an admin or the assigned agent can assign this ticket.")


def set_urgent(viewer: Viewer, ticket: TicketState) -> Decision:
    if is_final(ticket.status):
        return _final(ticket, "changing urgency")
    if viewer.is_staff or is_owner(viewer, ticket):
        return ALLOW
    return _forbid("Only the ticket's owner and support agents can change urgency.")


def mark_solution(viewer: Viewer, ticket: TicketState) -> Decision:
    if is_final(ticket.status):
        return _final(ticket, "marking a solution")
    if not viewer.is_staff:
        return _forbid("Only support agents recommend a solution.")
    return _works_on(viewer, ticket)


def rate(
    viewer: Viewer,
    ticket: TicketState,
    *,
    closed_at: datetime | None,
    now: datetime,
    window: timedelta,
) -> Decision:
    """The owner rates a CLOSED ticket until `window` after it closed."""
    if viewer.is_staff or not is_owner(viewer, ticket):
        return _forbid("Only the ticket's owner rates it.")
    if ticket.status is not S.CLOSED:
        return Decision(
            False,
            f"Only CLOSED tickets can be rated; this one is {ticket.status.value}.",
            ErrorCode.INVALID_TRANSITION,
            "ticketId",
        )
    if closed_at is None or now > closed_at + window:
        days = window.days
        return Decision(
            False,
            f"Ticket #{ticket.number} can be rated for {days} days after it closed; "
            "that time is over.",
            ErrorCode.RATING_CLOSED,
            "ticketId",
        )
    return ALLOW
