"""Idempotent mutations: a `clientMutationId` makes a retried request return its first result.

- A key belongs to the user who sent it (and to the mutation): another user's identical key is
  another request.
- A key remembers a fingerprint of the request it was first used with; the same key with another
  request (another ticket, another text, other fields) is a VALIDATION error on
  `clientMutationId` instead of the first result, as with Stripe's idempotency keys.
- A replay reads the first result again through `services.visibility`, like any read: a viewer
  who may not see it (the same user signed in with another role) gets NOT_FOUND, never the row.

The receipt is written in the mutation's own transaction, so a result and its receipt commit
together; a concurrent retry that loses the race on the unique key reads the winner's result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from models import Message, MutationReceipt, Ticket
from services import visibility
from services.errors import ErrorCode, UserInputError
from services.viewer import Viewer

FIELD = "clientMutationId"


@dataclass(frozen=True, slots=True)
class Request:
    """One idempotent request: the mutation, the client's key and the request's fingerprint."""

    operation: str
    key: str | None
    fingerprint: str


def request(operation: str, key: str | None, **arguments: Any) -> Request:
    """The request as its arguments (after cleaning) define it; order of keys does not matter."""
    canonical = orjson.dumps(
        {name: _canonical(value) for name, value in arguments.items()},
        option=orjson.OPT_SORT_KEYS,
    )
    return Request(operation, key, hashlib.sha256(canonical).hexdigest())


def _canonical(value: Any) -> Any:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return sorted(set(value))  # attachment ids: a set, whatever the order or repeats
    return value


async def _receipt(viewer: Viewer, req: Request) -> MutationReceipt | None:
    if req.key is None:
        return None
    receipt = await MutationReceipt.get_or_none(
        user_id=viewer.id, operation=req.operation, client_mutation_id=req.key
    )
    if receipt is not None and receipt.fingerprint not in (None, req.fingerprint):
        raise UserInputError(
            ErrorCode.VALIDATION,
            "This clientMutationId was already used for a different request; "
            "send a new one for a new request.",
            FIELD,
        )
    return receipt


async def remember(
    viewer: Viewer, req: Request, *, ticket_id: int, message_id: int | None = None
) -> None:
    """Store the result under the key; call inside the transaction that made it."""
    if req.key is None:
        return
    await MutationReceipt.create(
        user_id=viewer.id,
        operation=req.operation,
        client_mutation_id=req.key,
        fingerprint=req.fingerprint,
        ticket_id=ticket_id,
        message_id=message_id,
    )


async def first_ticket(viewer: Viewer, req: Request) -> Ticket | None:
    """The ticket an earlier request with this key produced, read as the viewer may see it."""
    receipt = await _receipt(viewer, req)
    if receipt is None:
        return None
    ticket = await visibility.tickets(viewer).get_or_none(id=receipt.ticket_id)
    if ticket is None:
        raise UserInputError.not_found("Ticket", FIELD)
    return ticket


async def first_message(viewer: Viewer, req: Request) -> tuple[Ticket, Message] | None:
    """The ticket and message an earlier request with this key produced, read as the viewer may
    see them."""
    receipt = await _receipt(viewer, req)
    if receipt is None:
        return None
    ticket = await visibility.tickets(viewer).get_or_none(id=receipt.ticket_id)
    if ticket is None:
        raise UserInputError.not_found("Ticket", "ticketId")
    message = await visibility.messages(viewer).get_or_none(id=receipt.message_id)
    if message is None:
        raise UserInputError.not_found("Message", FIELD)
    return ticket, message
