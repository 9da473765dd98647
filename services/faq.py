"""The Help page's FAQ and tips: seeded data, readable by anyone."""

from __future__ import annotations

from models import FaqEntry, FaqKind


async def list_faq(*, kind: FaqKind | None = None, limit: int) -> list[FaqEntry]:
    """The Help page's entries in display order, at most `limit`."""
    query = FaqEntry.all() if kind is None else FaqEntry.filter(kind=kind)
    return await query.order_by("position", "id").limit(limit)
