"""GraphQL enums. Domain enums are exposed as they are, so names never drift."""

from __future__ import annotations

from enum import Enum

import strawberry

from models.enums import (
    AttachmentState,
    EventKind,
    FaqKind,
    RequestStatus,
    Role,
    SlaTarget,
    TicketStatus,
)
from services.errors import ErrorCode

strawberry.enum(Role, description="What a user may do.")
strawberry.enum(TicketStatus, description="Where a ticket is in its life.")
strawberry.enum(EventKind, description="What an event records.")
strawberry.enum(ErrorCode, description="Machine-readable reason of a UserError.")
strawberry.enum(RequestStatus, description="Where a recategorization request stands.")
strawberry.enum(FaqKind, description="A frequently asked question, or a tip.")
strawberry.enum(AttachmentState, description="Uploaded (only the uploader's) or linked.")
strawberry.enum(
    SlaTarget, description="A service-level target: the first response or the resolution."
)

__all__ = [
    "AttachmentState",
    "ErrorCode",
    "EventKind",
    "Locale",
    "OrderDirection",
    "Role",
    "SlaTarget",
    "TicketOrderField",
    "TicketStatus",
]


@strawberry.enum(description="Sort direction.")
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum(description="Columns tickets can be ordered by; the id breaks ties.")
class TicketOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    SLA_DUE = strawberry.enum_value(
        "SLA_DUE",
        description="Staff: the earliest unmet SLA due time (ASC: the most pressing first; "
        "tickets with no unmet due time last).",
    )


@strawberry.enum(description="Language of display names.")
class Locale(Enum):
    RU = "ru"
    EN = "en"
