"""Tortoise models: the stored shape of users, categories, tickets, messages and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import AttachmentState, EventKind, FaqKind, RequestStatus, Role, TicketStatus


class User(Model):
    """A person known from a valid token, created on first sight."""

    id = fields.CharField(max_length=128, primary_key=True)
    name = fields.CharField(max_length=200, default="")
    role = fields.CharEnumField(Role, max_length=16, default=Role.CUSTOMER)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "users"


class Category(Model):
    """A section, or a question type inside a section. Tickets belong to leaves."""

    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name_ru = fields.CharField(max_length=200)
    name_en = fields.CharField(max_length=200)
    parent: fields.ForeignKeyNullableRelation[Category] = fields.ForeignKeyField(
        "models.Category", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    parent_id: int | None
    position = fields.IntField(default=0)

    class Meta:
        table = "categories"


class Counter(Model):
    """Named gap-free counters (ticket numbers), incremented inside the writing transaction."""

    name = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counters"


# The SLA order key of a ticket with no unmet due time: after every real one.
NO_DUE_TIME = datetime(9999, 12, 31, tzinfo=UTC)


class SlaPolicy(Model):
    """Due times for the tickets of one leaf category and urgency.

    A row never changes: a new policy replaces the current one (`replaced_at`), and a ticket
    keeps the one it was targeted with."""

    id = fields.BigIntField(primary_key=True)
    category: fields.ForeignKeyRelation[Category] = fields.ForeignKeyField(
        "models.Category", related_name="sla_policies", on_delete=fields.RESTRICT
    )
    category_id: int
    urgent = fields.BooleanField()
    first_response_minutes = fields.IntField()
    resolution_minutes = fields.IntField()
    # {"timeZone": "Europe/Moscow", "weekdays": [1..7], "start": minute, "end": minute}; null:
    # around the clock.
    business_hours: dict[str, Any] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField()
    replaced_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sla_policies"
        indexes = (Index(fields=("category_id", "urgent", "replaced_at")),)


class Ticket(Model):
    id = fields.BigIntField(primary_key=True)
    number = fields.BigIntField(unique=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tickets", on_delete=fields.RESTRICT
    )
    owner_id: str
    category: fields.ForeignKeyRelation[Category] = fields.ForeignKeyField(
        "models.Category", related_name="tickets", on_delete=fields.RESTRICT
    )
    category_id: int
    summary = fields.CharField(max_length=200)
    question = fields.TextField()
    # casefold(summary + question): portable case-insensitive search for any script.
    search_text = fields.TextField()
    urgent = fields.BooleanField(default=False)
    status = fields.CharEnumField(TicketStatus, max_length=16, default=TicketStatus.OPEN)
    rejection_reason = fields.TextField(null=True)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="assigned_tickets", null=True, on_delete=fields.RESTRICT
    )
    assignee_id: str | None
    follow_up_of: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="follow_ups", null=True, on_delete=fields.SET_NULL
    )
    follow_up_of_id: int | None
    # The agent's reply recommended as the solution (the Help page's "recommendations").
    solution_message_id = fields.BigIntField(null=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)
    # Service level (services/sla.py): the policy targeted, due times and what met them.
    sla_policy: fields.ForeignKeyNullableRelation[SlaPolicy] = fields.ForeignKeyField(
        "models.SlaPolicy", related_name="tickets", null=True, on_delete=fields.RESTRICT
    )
    sla_policy_id: int | None
    first_response_due_at = fields.DatetimeField(null=True)
    first_responded_at = fields.DatetimeField(null=True)
    resolution_due_at = fields.DatetimeField(null=True)
    sla_paused_since = fields.DatetimeField(null=True)
    # Service-level time spent AWAITING_REPLY before the current pause: due times move by it.
    sla_paused_seconds = fields.BigIntField(default=0, db_default=0)
    first_response_breached = fields.BooleanField(default=False, db_default=False)
    resolution_breached = fields.BooleanField(default=False, db_default=False)
    # The earliest unmet due time (NO_DUE_TIME when none): the SLA_DUE order.
    sla_due_at = fields.DatetimeField(default=NO_DUE_TIME, db_default=NO_DUE_TIME)
    # The earliest unmet due time not yet breached, null while paused: what the breach
    # scheduler scans for.
    sla_check_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tickets"
        indexes = (
            Index(fields=("owner_id", "created_at", "id")),
            Index(fields=("created_at", "id")),
            Index(fields=("updated_at", "id")),
            Index(fields=("status", "created_at")),
            Index(fields=("category_id", "created_at")),
            Index(fields=("assignee_id", "created_at")),
            Index(fields=("urgent", "created_at")),
            Index(fields=("sla_due_at", "id")),
            Index(fields=("sla_check_at",)),
        )


class Message(Model):
    """One turn of the conversation. Internal notes are for agents only."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="messages", on_delete=fields.CASCADE
    )
    ticket_id: int
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="messages", on_delete=fields.RESTRICT
    )
    author_id: str
    body = fields.TextField()
    internal = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages"
        indexes = (Index(fields=("ticket_id", "id")),)


class TicketEvent(Model):
    """The history of a ticket. Its monotonic id is the cursor live updates resume from."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE
    )
    ticket_id: int
    kind = fields.CharEnumField(EventKind, max_length=32)
    actor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", on_delete=fields.RESTRICT
    )
    actor_id: str
    at = fields.DatetimeField()
    from_status = fields.CharEnumField(TicketStatus, max_length=16, null=True)
    to_status = fields.CharEnumField(TicketStatus, max_length=16, null=True)
    from_category_id = fields.IntField(null=True)
    to_category_id = fields.IntField(null=True)
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="events", null=True, on_delete=fields.CASCADE
    )
    message_id: int | None
    from_assignee_id = fields.CharField(max_length=128, null=True)
    to_assignee_id = fields.CharField(max_length=128, null=True)
    request_id = fields.BigIntField(null=True)
    comment = fields.TextField(null=True)
    internal = fields.BooleanField(default=False)
    data: dict[str, Any] | None = fields.JSONField(null=True)

    class Meta:
        table = "ticket_events"
        indexes = (Index(fields=("ticket_id", "id")),)


class RecategorizationRequest(Model):
    """A customer's wish to change the category of a ticket in work, decided by the agent."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="recategorization_requests", on_delete=fields.CASCADE
    )
    ticket_id: int
    requested_by: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="recategorization_requests", on_delete=fields.RESTRICT
    )
    requested_by_id: str
    from_category_id = fields.IntField()
    to_category_id = fields.IntField()
    status = fields.CharEnumField(RequestStatus, max_length=16, default=RequestStatus.PENDING)
    comment = fields.TextField(null=True)
    decided_by_id = fields.CharField(max_length=128, null=True)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recategorization_requests"
        indexes = (Index(fields=("ticket_id", "status")),)


class SatisfactionRating(Model):
    """The owner's rating of a closed ticket (CSAT), replaced by rating again."""

    id = fields.BigIntField(primary_key=True)
    ticket: fields.OneToOneRelation[Ticket] = fields.OneToOneField(
        "models.Ticket", related_name="satisfaction", on_delete=fields.CASCADE
    )
    ticket_id: int
    score = fields.SmallIntField()
    comment = fields.TextField(null=True)
    rated_at = fields.DatetimeField()

    class Meta:
        table = "satisfaction_ratings"
        indexes = (Index(fields=("rated_at",)),)


class TicketRead(Model):
    """How far one person has read one ticket (services/read_state.py): every event up to
    `last_event_id` is read. Per user, not per device; the mark only ever moves forward."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="ticket_reads", on_delete=fields.CASCADE
    )
    user_id: str
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="reads", on_delete=fields.CASCADE
    )
    ticket_id: int
    last_event_id = fields.BigIntField()
    # The time of the event at `last_event_id`: messages at or before it are read.
    last_read_at = fields.DatetimeField()

    class Meta:
        table = "ticket_reads"
        # The unique key serves the per-viewer lookups (user first); the ticket index serves
        # the cascade when a ticket goes.
        unique_together = (("user_id", "ticket_id"),)
        indexes = (Index(fields=("ticket_id",)),)


class FaqEntry(Model):
    """Seeded Help-page FAQ answers and tips, in Russian and English."""

    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    kind = fields.CharEnumField(FaqKind, max_length=8)
    position = fields.IntField(default=0)
    question_ru = fields.TextField()
    question_en = fields.TextField()
    answer_ru = fields.TextField()
    answer_en = fields.TextField()

    class Meta:
        table = "faq_entries"


class Attachment(Model):
    """An uploaded file: the uploader's until linked to a ticket (and a message)."""

    id = fields.BigIntField(primary_key=True)
    uploader: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="attachments", on_delete=fields.RESTRICT
    )
    uploader_id: str
    ticket: fields.ForeignKeyNullableRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="attachments", null=True, on_delete=fields.CASCADE
    )
    ticket_id: int | None
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="attachments", null=True, on_delete=fields.CASCADE
    )
    message_id: int | None
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    storage_key = fields.CharField(max_length=100, unique=True)
    state = fields.CharEnumField(AttachmentState, max_length=16, default=AttachmentState.UPLOADED)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "attachments"
        indexes = (
            Index(fields=("uploader_id", "state")),
            Index(fields=("state", "expires_at")),
        )


class MutationReceipt(Model):
    """Remembers a `clientMutationId` so a retried mutation returns its first result."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="receipts", on_delete=fields.CASCADE
    )
    user_id: str
    operation = fields.CharField(max_length=64)
    client_mutation_id = fields.CharField(max_length=128)
    # SHA-256 of the request first sent with the key (null for receipts older than the column).
    fingerprint = fields.CharField(max_length=64, null=True)
    ticket_id = fields.BigIntField(null=True)
    message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "mutation_receipts"
        unique_together = (("user_id", "operation", "client_mutation_id"),)
