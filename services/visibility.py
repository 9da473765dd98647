"""Who sees what: the only module that decides which rows a viewer may read.

Customers see their own tickets, with everything on them except internal notes (and the events
and files of those notes) and service levels (SLA fields, their events, satisfaction figures);
agents and admins see every ticket, every note and every service level. Events marked internal
(about a note, or about service levels) are staff-only. Every read (queries,
the loaders' batch reads, subscriptions and their replays, downloads, idempotent replays) starts
from these querysets or asks these predicates; no other module filters by owner or by the
internal flag.
"""

from __future__ import annotations

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models import (
    Attachment,
    Message,
    RecategorizationRequest,
    SatisfactionRating,
    Ticket,
    TicketEvent,
)
from services.viewer import Viewer


def sees_every_ticket(viewer: Viewer) -> bool:
    """Agents and admins see every ticket and every internal note."""
    return viewer.is_staff


def may_see_ticket(viewer: Viewer, owner_id: str) -> bool:
    """Customers see only their own tickets; staff see all."""
    return sees_every_ticket(viewer) or owner_id == viewer.id


def may_see_internal(viewer: Viewer) -> bool:
    """Internal notes (and their events and files) are for staff only."""
    return sees_every_ticket(viewer)


def may_see_service_levels(viewer: Viewer) -> bool:
    """SLA policies, due times and breaches, and satisfaction figures are for staff only."""
    return sees_every_ticket(viewer)


def may_see_event(viewer: Viewer, event: TicketEvent, owner_id: str) -> bool:
    """The event predicate: the event's ticket (owned by `owner_id`) is visible, and the event
    is not about an internal note unless the viewer is staff."""
    if not may_see_ticket(viewer, owner_id):
        return False
    return may_see_internal(viewer) or not event.internal


def may_see_user(viewer: Viewer, user_id: str) -> bool:
    """Staff see every user; a customer, by id, only themselves (the people on their tickets
    they see through the tickets)."""
    return sees_every_ticket(viewer) or user_id == viewer.id


def tickets(viewer: Viewer) -> QuerySet[Ticket]:
    """The tickets the viewer may see."""
    query = Ticket.all()
    return query if sees_every_ticket(viewer) else query.filter(owner_id=viewer.id)


def _own_tickets(viewer: Viewer) -> Subquery:
    # A subquery rather than a join: the rows keep their own columns only, so callers may rank
    # or group them by unqualified names.
    return Subquery(Ticket.filter(owner_id=viewer.id).values("id"))


def messages(viewer: Viewer) -> QuerySet[Message]:
    """Messages on visible tickets; internal notes for staff only."""
    query = Message.all()
    if sees_every_ticket(viewer):
        return query
    return query.filter(ticket_id__in=_own_tickets(viewer), internal=False)


def events(viewer: Viewer) -> QuerySet[TicketEvent]:
    """Events of visible tickets; those about internal notes for staff only."""
    query = TicketEvent.all()
    if sees_every_ticket(viewer):
        return query
    return query.filter(ticket_id__in=_own_tickets(viewer), internal=False)


def requests(viewer: Viewer) -> QuerySet[RecategorizationRequest]:
    """Recategorization requests of visible tickets."""
    query = RecategorizationRequest.all()
    if sees_every_ticket(viewer):
        return query
    return query.filter(ticket_id__in=_own_tickets(viewer))


def ratings(viewer: Viewer) -> QuerySet[SatisfactionRating]:
    """Ratings of visible tickets (a customer's own)."""
    query = SatisfactionRating.all()
    if sees_every_ticket(viewer):
        return query
    return query.filter(ticket_id__in=_own_tickets(viewer))


def attachments(viewer: Viewer) -> QuerySet[Attachment]:
    """Files the viewer may download: their own uploads while unattached, then the files of
    visible tickets and messages (files of internal notes: staff only)."""
    own_upload = Q(ticket_id__isnull=True, uploader_id=viewer.id)
    if sees_every_ticket(viewer):
        return Attachment.filter(own_upload | Q(ticket_id__isnull=False))
    on_ticket = Q(ticket__owner_id=viewer.id, message_id__isnull=True)
    on_message = Q(ticket__owner_id=viewer.id, message__internal=False)
    return Attachment.filter(own_upload | on_ticket | on_message)
