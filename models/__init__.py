"""Storage: Tortoise models, database configuration, migrations and seed data."""

from models.enums import FINAL_STATUSES, EventKind, Role, TicketStatus
from models.tables import (
    Category,
    Counter,
    Message,
    MutationReceipt,
    Ticket,
    TicketEvent,
    User,
)

__models__ = [Category, Counter, Message, MutationReceipt, Ticket, TicketEvent, User]

__all__ = [
    "FINAL_STATUSES",
    "Category",
    "Counter",
    "EventKind",
    "Message",
    "MutationReceipt",
    "Role",
    "Ticket",
    "TicketEvent",
    "TicketStatus",
    "User",
]
