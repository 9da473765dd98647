"""What every resolver gets in `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.loaders import Loaders
from services.viewer import Viewer

if TYPE_CHECKING:
    from models.storage import Storage
    from pubsub import Broker
    from services.attachments import Limits
    from services.live import EventFeed


@dataclass
class Context:
    viewer: Viewer | None
    broker: Broker
    feed: EventFeed
    request_id: str
    storage: Storage
    limits: Limits
    expires_at: float | None = None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.viewer)

    def sign_in(self, viewer: Viewer, expires_at: float) -> None:
        """A WebSocket authenticates after the connection is open (connection_init)."""
        self.viewer = viewer
        self.expires_at = expires_at
        self.loaders = Loaders(viewer)

    def fresh_loaders(self) -> None:
        """Subscriptions load each event's relations anew: caches live for one event."""
        self.loaders = Loaders(self.viewer)


Info = strawberry.Info[Context, None]
