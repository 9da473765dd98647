"""Who is asking (what they may see is `services.visibility`)."""

from __future__ import annotations

from dataclasses import dataclass

from models import Role
from services.errors import NotAuthenticated


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
