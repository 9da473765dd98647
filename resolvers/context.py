"""What every resolver gets in `info.context`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.loaders import CategoryTree, Loaders
from schema.types import FieldContext
from services.rate_limit import Limiter, Unlimited
from services.satisfaction import DEFAULT_RATING_DAYS
from services.viewer import Viewer

if TYPE_CHECKING:
    from models.storage import Storage
    from pubsub import Broker
    from services.attachments import Limits
    from services.live import EventFeed
    from services.presence import PresenceHub


@dataclass(slots=True)
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
    rate_limiter: Limiter = field(default_factory=Unlimited)
    categories: CategoryTree | None = None
    rating_window: timedelta = timedelta(days=DEFAULT_RATING_DAYS)
    presence: PresenceHub | None = None
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """Made on first use: an idle WebSocket connection never pays for them."""
        if self._loaders is None:
            self._loaders = Loaders(self.viewer, self.categories)
        return self._loaders

    def sign_in(self, viewer: Viewer, expires_at: float) -> None:
        """A WebSocket authenticates after the connection is open (connection_init)."""
        self.viewer = viewer
        self.expires_at = expires_at
        self._loaders = None

    def retry_after(self, seconds: float) -> None:
        """HTTP callers also get a `Retry-After` header (the longest wait asked in the request)."""
        response = self.response
        if response is None or getattr(response, "prepared", True):
            return  # a WebSocket: the error's retryAfter says it
        wait = max(1, math.ceil(seconds))
        earlier = int(response.headers.get("Retry-After", 0))
        response.headers["Retry-After"] = str(max(wait, earlier))

    def fresh_loaders(self) -> None:
        """Subscriptions load each event's relations anew: caches live for one event."""
        self._loaders = None


Info = strawberry.Info[Context, None]

if TYPE_CHECKING:

    def _gives_fields_what_they_need(context: Context) -> FieldContext:
        """mypy checks here that this context satisfies the schema's `FieldContext`."""
        return context
