"""Dashboard figures over the tickets a viewer may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.functions import Count

from models import FINAL_STATUSES, TicketStatus
from services import sla, visibility
from services.viewer import Viewer, require_viewer


@dataclass(frozen=True, slots=True)
class TicketStats:
    by_status: dict[TicketStatus, int]
    active_by_category: dict[int, int]
    urgent_active: int
    sla_breached_active: int
    oldest_open_at: datetime | None
    computed_at: datetime


async def ticket_stats(*, viewer: Viewer | None) -> TicketStats:
    """Counts by status; open work (not final) by category, urgent and with a breached SLA
    target (staff); the oldest OPEN ticket."""
    viewer = require_viewer(viewer)
    tickets = visibility.tickets(viewer)
    active = tickets.filter(status__not_in=list(FINAL_STATUSES))
    by_status = await tickets.group_by("status").annotate(n=Count("id")).values("status", "n")
    by_category = await (
        active.group_by("category_id").annotate(n=Count("id")).values("category_id", "n")
    )
    urgent = await active.filter(urgent=True).count()
    oldest = await tickets.filter(status=TicketStatus.OPEN).order_by("created_at", "id").first()
    return TicketStats(
        by_status={TicketStatus(r["status"]): r["n"] for r in by_status},
        active_by_category={r["category_id"]: r["n"] for r in by_category},
        urgent_active=urgent,
        sla_breached_active=await sla.breached_active_count(viewer=viewer),
        oldest_open_at=oldest.created_at if oldest else None,
        computed_at=datetime.now(UTC),
    )
