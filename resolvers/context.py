"""What every resolver gets in `info.context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.loaders import Loaders
from services.viewer import Viewer

if TYPE_CHECKING:
    from pubsub import Broker


@dataclass
class Context:
    viewer: Viewer | None
    broker: Broker
    request_id: str
    request: Any = None
    response: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.viewer)


Info = strawberry.Info[Context, None]
