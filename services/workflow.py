"""The status machine: which transitions exist. Who may make them is decided by each use case."""

from __future__ import annotations

from models import FINAL_STATUSES, TicketStatus
from services.errors import ErrorCode, UserInputError

S = TicketStatus

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.OPEN: frozenset({S.IN_PROGRESS, S.REJECTED, S.CLOSED}),
    S.IN_PROGRESS: frozenset({S.AWAITING_REPLY, S.CLOSED, S.REJECTED}),
    S.AWAITING_REPLY: frozenset({S.IN_PROGRESS, S.CLOSED, S.REJECTED}),
    S.CLOSED: frozenset(),
    S.REJECTED: frozenset(),
}


def is_final(status: TicketStatus) -> bool:
    return status in FINAL_STATUSES


def ensure_not_final(number: int, status: TicketStatus, *, action: str) -> None:
    """Final tickets take no more changes; the customer is told to open a new ticket."""
    if is_final(status):
        raise UserInputError(
            ErrorCode.TICKET_FINAL,
            f"Ticket #{number} is {status.value}: {action} is no longer possible. "
            "Create a new ticket and refer to this one with followUpOf.",
            "ticketId",
        )


def check_transition(current: TicketStatus, target: TicketStatus, *, field: str = "status") -> None:
    if target not in TRANSITIONS[current]:
        raise UserInputError(
            ErrorCode.INVALID_TRANSITION,
            f"A ticket cannot go from {current.value} to {target.value}.",
            field,
        )
