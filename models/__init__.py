"""Storage: Tortoise models, database configuration, migrations and seed data."""

from models.enums import FINAL_STATUSES, EventKind, FaqKind, RequestStatus, Role, TicketStatus
from models.tables import (
    Category,
    Counter,
    FaqEntry,
    Message,
    MutationReceipt,
    RecategorizationRequest,
    Ticket,
    TicketEvent,
    User,
)

__models__ = [
    Category,
    Counter,
    FaqEntry,
    Message,
    MutationReceipt,
    RecategorizationRequest,
    Ticket,
    TicketEvent,
    User,
]

__all__ = [
    "FINAL_STATUSES",
    "Category",
    "Counter",
    "EventKind",
    "FaqEntry",
    "FaqKind",
    "Message",
    "MutationReceipt",
    "RecategorizationRequest",
    "RequestStatus",
    "Role",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "User",
]
