"""The status machine: which transitions exist. Who may make them is `services.policy`."""

from __future__ import annotations

from models import FINAL_STATUSES, TicketStatus

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


def final_message(number: int, status: TicketStatus, action: str) -> str:
    """Final tickets take no more changes; the customer is told to open a new ticket."""
    return (
        f"Ticket #{number} is {status.value}: {action} is no longer possible. "
        "Create a new ticket and refer to this one with followUpOf."
    )


def transition_message(current: TicketStatus, target: TicketStatus) -> str:
    return f"A ticket cannot go from {current.value} to {target.value}."
