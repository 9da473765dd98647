"""`node` and `nodes`: any object by its global id, as the viewer may see it (Relay refetching).

Each type with a global id looks its objects up through its per-request loader, the same reads
(and so the same visibility) as everywhere else; the ids of one `nodes` list are loaded together,
one batch per type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from resolvers.loaders import Loaders
from schema.types import Node
from services.validation import (
    ATTACHMENT,
    CATEGORY,
    EVENT,
    MESSAGE,
    NODE_KEYS,
    RATING,
    REQUEST,
    SLA_POLICY,
    TICKET,
    USER,
    parse_global_id,
)

# How each type's objects are looked up by key: adding a type to `Node` is one line here (and
# its key in services/validation.py's NODE_KEYS).
LOOKUPS: dict[str, Callable[[Loaders, Any], Awaitable[Node | None]]] = {
    TICKET: lambda loaders, key: loaders.tickets.load(key),
    MESSAGE: lambda loaders, key: loaders.message.load(key),
    EVENT: lambda loaders, key: loaders.event.load(key),
    USER: lambda loaders, key: loaders.visible_user.load(key),
    CATEGORY: lambda loaders, key: loaders.category_node(key),
    ATTACHMENT: lambda loaders, key: loaders.attachment.load(key),
    REQUEST: lambda loaders, key: loaders.request.load(key),
    SLA_POLICY: lambda loaders, key: loaders.visible_sla_policy.load(key),
    RATING: lambda loaders, key: loaders.rating.load(key),
}
assert LOOKUPS.keys() == NODE_KEYS.keys(), "every type with a global id can be looked up"


def lookup(loaders: Loaders, value: str) -> Awaitable[Node | None] | None:
    """The object a global id names, once loaded (None when visible to nobody); None right away
    when the id names nothing. Synchronous, so that the ids of a list join their types' batches."""
    parsed = parse_global_id(value)
    if parsed is None:
        return None
    type_name, key = parsed
    return LOOKUPS[type_name](loaders, key)
