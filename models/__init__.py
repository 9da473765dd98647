"""Storage: Tortoise models, database configuration, migrations and seed data."""

from models.enums import (
    FINAL_STATUSES,
    AttachmentState,
    EventKind,
    FaqKind,
    RequestStatus,
    Role,
    TicketStatus,
)
from models.tables import (
    Attachment,
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
    Attachment,
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
    "Attachment",
    "AttachmentState",
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
