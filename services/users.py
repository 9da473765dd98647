"""Users are known from their tokens: created on first sight, refreshed when the token changes."""

from __future__ import annotations

from collections.abc import Sequence

from models import Role, User
from models.rows import fetch
from services import visibility
from services.viewer import Viewer


class KnownUsers:
    """Per-process memo of users already stored as the token describes them."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._seen: dict[str, tuple[str, Role]] = {}
        self._capacity = capacity

    async def ensure(self, *, user_id: str, name: str, role: Role) -> Viewer:
        """Store the token's user (once per process while unchanged) and return the viewer."""
        if self._seen.get(user_id) != (name, role):
            user, created = await User.get_or_create(
                id=user_id, defaults={"name": name, "role": role}
            )
            if not created and (user.name, user.role) != (name, role):
                await User.filter(id=user_id).update(name=name, role=role)
            if len(self._seen) >= self._capacity:
                self._seen.clear()
            self._seen[user_id] = (name, role)
        return Viewer(id=user_id, name=name, role=role)


async def get_users(*, ids: Sequence[str]) -> dict[str, User]:
    return {user.id: user for user in await fetch(User.filter(id__in=list(set(ids))))}


async def get_visible_users(*, viewer: Viewer, ids: Sequence[str]) -> dict[str, User]:
    """Users by id, those the viewer may look up by id only."""
    visible = [i for i in ids if visibility.may_see_user(viewer, i)]
    return await get_users(ids=visible) if visible else {}
