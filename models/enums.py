"""Enumerations stored in the database (values are the API's names)."""

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        """Agents and admins work tickets and see all of them."""
        return self is not Role.CUSTOMER


class TicketStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    AWAITING_REPLY = "AWAITING_REPLY"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


FINAL_STATUSES = frozenset({TicketStatus.CLOSED, TicketStatus.REJECTED})


class EventKind(StrEnum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    MESSAGE_ADDED = "MESSAGE_ADDED"
    CATEGORY_CHANGED = "CATEGORY_CHANGED"
    RECATEGORIZATION_REQUESTED = "RECATEGORIZATION_REQUESTED"
    RECATEGORIZATION_DECLINED = "RECATEGORIZATION_DECLINED"
    ASSIGNED = "ASSIGNED"
    URGENCY_CHANGED = "URGENCY_CHANGED"
    SOLUTION_MARKED = "SOLUTION_MARKED"
    RATED = "RATED"
    SLA_RETARGETED = "SLA_RETARGETED"
    SLA_BREACHED = "SLA_BREACHED"


class SlaTarget(StrEnum):
    FIRST_RESPONSE = "FIRST_RESPONSE"
    RESOLUTION = "RESOLUTION"


class RequestStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


class FaqKind(StrEnum):
    FAQ = "FAQ"
    TIP = "TIP"


class AttachmentState(StrEnum):
    UPLOADED = "UPLOADED"
    LINKED = "LINKED"
