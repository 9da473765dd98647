"""Who is asking (what they may see is `services.visibility`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from models import Role
from services.errors import NotAuthenticated

T = TypeVar("T")
TOKEN_EXPIRED = "The token expired: reconnect with a fresh token."


@dataclass(frozen=True, slots=True)
class Viewer:
    id: str
    name: str
    role: Role

    @property
    def is_staff(self) -> bool:
        """Agents and admins work tickets and see all of them."""
        return self.role.is_staff


def require_viewer(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise NotAuthenticated()
    return viewer


async def before_expiry(wait: Callable[[], Awaitable[T]], expires_at: float | None) -> T:
    """What `wait()` gives, unless the viewer's token (valid until `expires_at`, epoch seconds;
    None: no expiry) expires first: then NotAuthenticated. Long-lived subscriptions wait through
    this, so a token that expires ends them even while nothing happens."""
    if expires_at is None:
        return await wait()
    remaining = expires_at - time.time()
    if remaining > 0:
        try:
            async with asyncio.timeout(remaining):
                return await wait()
        except TimeoutError:
            pass
    raise NotAuthenticated(TOKEN_EXPIRED)
