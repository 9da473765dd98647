"""Per-request DataLoaders: a page of N tickets costs a constant number of statements."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from resolvers import mappers
from schema import sizes, types
from schema.enums import TicketStatus
from services import (
    attachments,
    categories,
    policy,
    read_state,
    satisfaction,
    sla,
    ticket_reads,
    users,
    visibility,
)
from services.viewer import Viewer, require_viewer

if TYPE_CHECKING:
    from models import Category


class CategoryTree:
    """The categories as GraphQL objects, read once per process: only migrations change them.

    Lookups through it are plain reads, so a page of tickets resolves its categories without
    awaiting; a category it does not know (added since it was read) comes from the database.
    """

    def __init__(self, rows: Sequence[Category]) -> None:
        self.by_id = {row.id: mappers.category(row) for row in rows}


Sized = tuple[int, int]  # (id, how many items of its list to read)


def _ids(keys: Sequence[Sized]) -> list[int]:
    return list({i: None for i, _ in keys})


def _most(keys: Sequence[Sized]) -> int:
    return max(n for _, n in keys)


class _Batches:
    """The loaders' batch functions. Apart from `Loaders`, so that a DataLoader's reference to
    its function does not lead back to the DataLoader: no reference cycle, and a request's
    reads are freed as soon as it ends."""

    def __init__(self, viewer: Viewer | None) -> None:
        self._viewer = viewer

    @property
    def viewer(self) -> Viewer:
        return require_viewer(self._viewer)

    async def load_users(self, ids: Sequence[str]) -> list[types.User]:
        found = await users.get_users(ids=ids)
        return [mappers.user(found[i]) for i in ids]

    async def load_tickets(self, ids: Sequence[int]) -> list[types.Ticket | None]:
        found = await ticket_reads.get_tickets(viewer=self.viewer, ids=ids)
        return [mappers.ticket(found[i]) if i in found else None for i in ids]

    async def load_messages(self, keys: Sequence[Sized]) -> list[list[types.Message]]:
        found = await ticket_reads.messages_of(
            viewer=self.viewer, ticket_ids=_ids(keys), limit=_most(keys)
        )
        return [[mappers.message(m) for m in found[i][:n]] for i, n in keys]

    async def load_last_messages(self, ticket_ids: Sequence[int]) -> list[types.Message | None]:
        found = await ticket_reads.last_messages(viewer=self.viewer, ticket_ids=ticket_ids)
        return [mappers.message(found[i]) if i in found else None for i in ticket_ids]

    async def load_message(self, ids: Sequence[int]) -> list[types.Message | None]:
        found = await ticket_reads.get_messages(viewer=self.viewer, ids=ids)
        return [mappers.message(found[i]) if i in found else None for i in ids]

    async def load_events(self, keys: Sequence[Sized]) -> list[list[types.TicketEvent]]:
        found = await ticket_reads.events_of(
            viewer=self.viewer, ticket_ids=_ids(keys), limit=_most(keys)
        )
        return [[mappers.event(e) for e in found[i][:n]] for i, n in keys]

    async def load_pending_requests(
        self, ticket_ids: Sequence[int]
    ) -> list[types.RecategorizationRequest | None]:
        found = await ticket_reads.pending_requests(viewer=self.viewer, ticket_ids=ticket_ids)
        return [mappers.request(found[i]) if i in found else None for i in ticket_ids]

    async def load_requests(self, ids: Sequence[int]) -> list[types.RecategorizationRequest | None]:
        found = await ticket_reads.get_requests(viewer=self.viewer, ids=ids)
        return [mappers.request(found[i]) if i in found else None for i in ids]

    async def load_visible_users(self, ids: Sequence[str]) -> list[types.User | None]:
        found = await users.get_visible_users(viewer=self.viewer, ids=ids)
        return [mappers.user(found[i]) if i in found else None for i in ids]

    async def load_event(self, ids: Sequence[int]) -> list[types.TicketEvent | None]:
        found = await ticket_reads.get_events(viewer=self.viewer, ids=ids)
        return [mappers.event(found[i]) if i in found else None for i in ids]

    async def load_attachment(self, ids: Sequence[int]) -> list[types.Attachment | None]:
        found = await attachments.get_visible_many(viewer=self.viewer, ids=ids)
        return [mappers.attachment(found[i]) if i in found else None for i in ids]

    async def load_ratings(self, ids: Sequence[int]) -> list[types.SatisfactionRating | None]:
        found = await satisfaction.ratings_of(viewer=self.viewer, ticket_ids=ids)
        return [mappers.rating(found[i]) if i in found else None for i in ids]

    async def load_read_states(self, ids: Sequence[int]) -> list[tuple[int, datetime | None]]:
        found = await read_state.read_states(viewer=self.viewer, ticket_ids=ids)
        states = [found.get(i) for i in ids]
        return [(0, None) if s is None else (s.unread_count, s.last_read_at) for s in states]

    async def load_sla_policies(self, ids: Sequence[int]) -> list[types.SlaPolicy]:
        found = await sla.get_policies(ids=ids)
        return [mappers.sla_policy(found[i]) for i in ids]

    async def load_visible_sla_policies(self, ids: Sequence[int]) -> list[types.SlaPolicy | None]:
        found = await sla.visible_policies(viewer=self.viewer, ids=ids)
        return [mappers.sla_policy(found[i]) if i in found else None for i in ids]

    async def load_rating(self, ids: Sequence[int]) -> list[types.SatisfactionRating | None]:
        found = await satisfaction.get_ratings(viewer=self.viewer, ids=ids)
        return [mappers.rating(found[i]) if i in found else None for i in ids]

    async def load_ticket_attachments(self, ids: Sequence[int]) -> list[list[types.Attachment]]:
        found = await attachments.of_tickets(ticket_ids=ids, limit=sizes.ATTACHMENTS.maximum)
        return [[mappers.attachment(a) for a in found[i]] for i in ids]

    async def load_message_attachments(self, ids: Sequence[int]) -> list[list[types.Attachment]]:
        found = await attachments.of_messages(message_ids=ids, limit=sizes.ATTACHMENTS.maximum)
        return [[mappers.attachment(a) for a in found[i]] for i in ids]


class Loaders:
    """Created per request (and per subscription event); caches only for its own lifetime."""

    def __init__(self, viewer: Viewer | None, tree: CategoryTree | None = None) -> None:
        self._viewer = viewer
        self._tree = tree
        # The viewer's own record is what their token says: signing in writes it (users.ensure).
        self._users_now: dict[str, types.User] = (
            {}
            if viewer is None
            else {viewer.id: mappers.user_of(viewer.id, viewer.name, viewer.role)}
        )
        self._sees_service_levels = viewer is not None and visibility.may_see_service_levels(viewer)
        self._read_states_now: dict[int, tuple[int, datetime | None]] = {}
        self._batches = batches = _Batches(viewer)
        self._categories: asyncio.Task[list[Category]] | None = None
        self.users = DataLoader(batches.load_users)
        self.tickets = DataLoader(batches.load_tickets)
        self.messages = DataLoader(batches.load_messages)
        self.last_message = DataLoader(batches.load_last_messages)
        self.message = DataLoader(batches.load_message)
        self.events = DataLoader(batches.load_events)
        self.pending_request = DataLoader(batches.load_pending_requests)
        self.request = DataLoader(batches.load_requests)
        self.satisfaction = DataLoader(batches.load_ratings)
        self.read_state = DataLoader(batches.load_read_states)  # (unreadCount, lastReadAt)
        self.sla_policy = DataLoader(batches.load_sla_policies)  # of a ticket's visible SLA
        self.ticket_attachments = DataLoader(batches.load_ticket_attachments)
        self.message_attachments = DataLoader(batches.load_message_attachments)
        # By id, as `node` and `nodes` look objects up: what the viewer may see, else None.
        self.visible_user = DataLoader(batches.load_visible_users)
        self.event = DataLoader(batches.load_event)
        self.attachment = DataLoader(batches.load_attachment)
        self.visible_sla_policy = DataLoader(batches.load_visible_sla_policies)
        self.rating = DataLoader(batches.load_rating)

    async def _all_categories(self) -> list[Category]:
        # The tree is small seeded data: one statement per request serves every lookup.
        if self._categories is None:
            self._categories = asyncio.ensure_future(categories.list_categories())
        return await self._categories

    def category(self, category_id: int) -> Any:
        """The category, right away when the tree knows it, else an awaitable."""
        if self._tree is not None and (found := self._tree.by_id.get(category_id)) is not None:
            return found
        return self._category_from_db(category_id)

    async def _category_from_db(self, category_id: int) -> types.Category:
        found = await self.category_node(category_id)
        if found is None:
            raise LookupError(f"category {category_id} does not exist")
        return found

    async def category_node(self, category_id: int) -> types.Category | None:
        """The category by id, or None when there is none (categories are public)."""
        if self._tree is not None and (found := self._tree.by_id.get(category_id)) is not None:
            return found
        for c in await self._all_categories():
            if c.id == category_id:
                return mappers.category(c)
        return None

    async def category_children(self, category_id: int) -> list[types.Category]:
        found = [c for c in await self._all_categories() if c.parent_id == category_id]
        return [mappers.category(c) for c in found[: sizes.CATEGORIES.maximum]]

    async def category_roots(self) -> list[types.Category]:
        found = [c for c in await self._all_categories() if c.parent_id is None]
        return [mappers.category(c) for c in found[: sizes.CATEGORIES.maximum]]

    def user(self, user_id: str) -> Any:
        """The user, right away when primed for this request, else through the loader."""
        found = self._users_now.get(user_id)
        return found if found is not None else self.users.load(user_id)

    async def prime_users(self, ids: Iterable[str]) -> None:
        """Read these users in one statement so that `user()` answers them without awaiting."""
        missing = [i for i in set(ids) if i not in self._users_now]
        if missing:
            found = await users.get_users(ids=missing)
            self._users_now.update({i: mappers.user(found[i]) for i in missing if i in found})

    def unread_count(self, ticket_id: int) -> Any:
        """The viewer's unread count of the ticket, right away when primed, else an awaitable."""
        found = self._read_states_now.get(ticket_id)
        return found[0] if found is not None else self._read_state_part(ticket_id, 0)

    def last_read_at(self, ticket_id: int) -> Any:
        """The viewer's last read time of the ticket, right away when primed, else an awaitable."""
        found = self._read_states_now.get(ticket_id)
        return found[1] if found is not None else self._read_state_part(ticket_id, 1)

    async def _read_state_part(self, ticket_id: int, part: int) -> Any:
        return (await self.read_state.load(ticket_id))[part]

    async def prime_read_states(self, ticket_ids: Iterable[int]) -> None:
        """Read the tickets' read states in one statement so that `unread_count()` and
        `last_read_at()` answer them without awaiting."""
        missing = [i for i in dict.fromkeys(ticket_ids) if i not in self._read_states_now]
        if missing:
            found = await self._batches.load_read_states(missing)
            self._read_states_now.update(zip(missing, found, strict=True))

    def sla(self, ticket: types.Ticket) -> types.TicketSla | None:
        """The ticket's service level, for staff only (the same for every viewer of a role)."""
        return mappers.ticket_sla(ticket) if self._sees_service_levels else None

    async def permissions(self, ticket: types.Ticket) -> types.TicketPermissions:
        """`viewerCan`, decided by the same policy functions the mutations enforce."""
        viewer = require_viewer(self._viewer)
        state = policy.TicketFacts(
            number=ticket.number,
            status=ticket.status,
            owner_id=ticket.owner_id,
            assignee_id=ticket.assignee_id,
        )
        pending = await self.pending_request.load(ticket.pk) is not None

        def p(decision: policy.Decision) -> types.Permission:
            return types.Permission(allowed=decision.allowed, reason=decision.reason)

        return types.TicketPermissions(
            reply=p(policy.reply(viewer, state)),
            take_into_work=p(policy.take(viewer, state)),
            change_status=p(policy.change_any_status(viewer, state)),
            recategorize=p(policy.recategorize(viewer, state)),
            request_recategorization=p(
                policy.request_recategorization(viewer, state, has_pending=pending)
            ),
            close=p(policy.change_status(viewer, state, TicketStatus.CLOSED)),
            reject=p(policy.change_status(viewer, state, TicketStatus.REJECTED)),
            assign=p(policy.assign(viewer, state)),
            set_urgent=p(policy.set_urgent(viewer, state)),
            decide_recategorization=p(
                policy.decide_recategorization(viewer, state)
                if pending
                else policy.Decision(False, "No recategorization request is pending.")
            ),
            mark_solution=p(policy.mark_solution(viewer, state)),
        )
