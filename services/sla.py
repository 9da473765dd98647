"""Service levels: policies, the due times of every ticket, pausing, re-targeting and breaches.

- A policy per leaf category and urgency gives the minutes to the first response (met by the
  first public reply of staff) and to the resolution (met by CLOSED or REJECTED), counted around
  the clock or in business hours only. A policy is never changed in place: a new one replaces it
  and applies to tickets created after it.
- A ticket's "SLA time" is the business time since it was created minus the business time it
  spent AWAITING_REPLY: a target is due when that time reaches its minutes. So while the ticket
  waits for the customer the clock stops, and on resuming every unmet due time moves by the
  paused (business) time.
- A recategorization or urgency change re-targets an open ticket to the current policy of its
  new category and urgency (recorded as SLA_RETARGETED).
- The breach scheduler (`breach_due`) finds passed due times through the indexed
  `sla_check_at` column and writes one SLA_BREACHED event per target, in the transaction that
  marks the target breached; on PostgreSQL the rows are claimed with FOR UPDATE SKIP LOCKED, so
  several processes never breach one target twice, and a process that was down catches up.

SLA fields and SLA events are for staff only (`services.visibility`).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from models import (
    FINAL_STATUSES,
    NO_DUE_TIME,
    Category,
    EventKind,
    Role,
    SlaPolicy,
    SlaTarget,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
)
from pubsub import Broker
from services import events, visibility
from services.categories import resolve_leaf
from services.clock import clock
from services.errors import ErrorCode, FieldError, Forbidden, UserInputError
from services.validation import SYSTEM_USER_PREFIX
from services.viewer import Viewer, require_viewer

log = logging.getLogger("helpdesk.sla")

MINUTES_MAX = 366 * 24 * 60  # a target of at most a year
YEARS_MAX = 10  # in business hours, a resolution target ends within this many years
DAY_MINUTES = 24 * 60
# Who breaches: events need an actor, and a breach is nobody's doing.
SYSTEM_USER = SYSTEM_USER_PREFIX + "sla"
SCAN_BATCH = 200


# --- business hours ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Working time: these ISO weekdays (1 = Monday), from `start` to `end` (minutes after local
    midnight), in an IANA time zone. Each working day is a span of real time between two
    instants, so business time is real time, whatever the clocks do."""

    time_zone: str
    weekdays: tuple[int, ...]
    start: int
    end: int

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> BusinessHours | None:
        if stored is None:
            return None
        return cls(stored["timeZone"], tuple(stored["weekdays"]), stored["start"], stored["end"])

    def stored(self) -> dict[str, Any]:
        return {
            "timeZone": self.time_zone,
            "weekdays": list(self.weekdays),
            "start": self.start,
            "end": self.end,
        }

    @property
    def _zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's working time as instants: local start and end, the first reading of an
        hour the clocks repeat, and for one they skip, the instant the clocks jumped to."""
        if day.isoweekday() not in self.weekdays:
            return None
        midnight = datetime.combine(day, time())
        return (
            self._instant(midnight + timedelta(minutes=self.start)),
            self._instant(midnight + timedelta(minutes=self.end)),
        )

    def _instant(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self._zone).astimezone(UTC)

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    @property
    def weekly_minutes(self) -> int:
        return (self.end - self.start) * len(self.weekdays)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant `seconds` of business time after `start`. Time is real time: a working
        day the clocks change in is an hour shorter or longer. NO_DUE_TIME beyond the calendar."""
        remaining = timedelta(seconds=seconds)
        day = self._day(start)
        try:
            while True:
                window = self._window(day)
                if window is not None:
                    begin = max(window[0], start)
                    if begin < window[1]:
                        if remaining <= window[1] - begin:
                            return begin + remaining
                        remaining -= window[1] - begin
                day += timedelta(days=1)
        except OverflowError:
            return NO_DUE_TIME

    def between(self, earlier: datetime, later: datetime) -> float:
        """Seconds of business time from `earlier` to `later` (0 when not later)."""
        total = timedelta()
        day, last = self._day(earlier), self._day(later)
        while day <= last:
            window = self._window(day)
            if window is not None:
                overlap = min(window[1], later) - max(window[0], earlier)
                total += max(overlap, timedelta())
            day += timedelta(days=1)
        return total.total_seconds()


def add_time(hours: BusinessHours | None, start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds) if hours is None else hours.add(start, seconds)


def elapsed(hours: BusinessHours | None, earlier: datetime, later: datetime) -> float:
    if hours is None:
        return max(0.0, (later - earlier).total_seconds())
    return hours.between(earlier, later)


# --- policies ------------------------------------------------------------------------------


async def current_policy(category_id: int, urgent: bool) -> SlaPolicy | None:
    return await SlaPolicy.get_or_none(
        category_id=category_id, urgent=urgent, replaced_at__isnull=True
    )


def _staff_only(viewer: Viewer) -> None:
    if not visibility.may_see_service_levels(viewer):
        raise Forbidden("Only support staff see service levels.")


async def list_policies(*, viewer: Viewer | None) -> list[SlaPolicy]:
    """Staff: the current policy of every leaf category and urgency."""
    viewer = require_viewer(viewer)
    _staff_only(viewer)
    return await SlaPolicy.filter(replaced_at__isnull=True).order_by("category_id", "urgent")


async def get_policies(*, ids: Sequence[int]) -> dict[int, SlaPolicy]:
    """Policies by id, for the SLA of tickets already shown to staff."""
    return {p.id: p for p in await SlaPolicy.filter(id__in=list(set(ids)))}


async def visible_policies(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, SlaPolicy]:
    """Policies by id as the viewer may see them: staff only (none for customers)."""
    if not visibility.may_see_service_levels(viewer):
        return {}
    return await get_policies(ids=ids)


@dataclass(frozen=True, slots=True)
class RequestedHours:
    """Business hours as a client sends them: local times HH:MM."""

    time_zone: str
    weekdays: Sequence[int]
    start: str
    end: str


def check_business_hours(
    requested: RequestedHours, errors: list[FieldError]
) -> BusinessHours | None:
    """The business hours asked for, or None with the reasons in `errors`."""
    time_zone, weekdays, start, end = (
        requested.time_zone,
        requested.weekdays,
        requested.start,
        requested.end,
    )
    before = len(errors)

    def bad(message: str, name: str) -> None:
        errors.append(FieldError(ErrorCode.VALIDATION, message, f"businessHours.{name}"))

    try:
        valid_zone = (
            0 < len(time_zone) <= 64
            and time_zone.isascii()
            and zoneinfo.ZoneInfo(time_zone) is not None
        )
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        valid_zone = False
    if not valid_zone:
        bad("timeZone must be an IANA time zone such as Europe/Moscow.", "timeZone")
    days = sorted(set(weekdays[:8]))
    if not days or len(weekdays) > 7 or any(not 1 <= d <= 7 for d in days):
        bad("weekdays must list ISO weekdays, 1 (Monday) to 7 (Sunday).", "weekdays")
    first, last = _minute_of_day(start), _minute_of_day(end)
    if first is None or first == DAY_MINUTES:
        bad("start must be a time HH:MM.", "start")
    if last is None:
        bad("end must be a time HH:MM (24:00 for midnight).", "end")
    if first is not None and last is not None and first >= last:
        bad("end must be later than start on the same day.", "end")
    if len(errors) > before or first is None or last is None:
        return None
    return BusinessHours(time_zone, tuple(days), first, last)


def _minute_of_day(value: str) -> int | None:
    hours, _, minutes = value.partition(":")
    digits = hours + minutes
    if not (len(hours) == 2 and len(minutes) == 2 and digits.isascii() and digits.isdecimal()):
        return None
    total = int(hours) * 60 + int(minutes)
    return total if int(minutes) < 60 and total <= DAY_MINUTES else None


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def set_policy(
    *,
    viewer: Viewer | None,
    category_slug: str,
    urgent: bool,
    first_response_minutes: int,
    resolution_minutes: int,
    business_hours: RequestedHours | None = None,
) -> SlaPolicy:
    """Admins: the policy of a leaf category and urgency, for tickets created from now on.
    Minutes 1 to a year, resolution not shorter than the first response; business hours in a
    valid time zone, on ISO weekdays, ending after they start."""
    viewer = require_viewer(viewer)
    if viewer.role is not Role.ADMIN:
        raise Forbidden("Only admins change service levels.")
    problems: list[FieldError] = []
    hours = None if business_hours is None else check_business_hours(business_hours, problems)
    for name, value in (
        ("firstResponseMinutes", first_response_minutes),
        ("resolutionMinutes", resolution_minutes),
    ):
        if not 1 <= value <= MINUTES_MAX:
            problems.append(
                FieldError(ErrorCode.VALIDATION, f"{name} must be 1 to {MINUTES_MAX}.", name)
            )
    longest = None if hours is None else hours.weekly_minutes * 52 * YEARS_MAX
    if not problems and longest is not None and resolution_minutes > longest:
        problems.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"resolutionMinutes would take more than {YEARS_MAX} years of these business "
                "hours.",
                "resolutionMinutes",
            )
        )
    if not problems and resolution_minutes < first_response_minutes:
        problems.append(
            FieldError(
                ErrorCode.VALIDATION,
                "resolutionMinutes cannot be shorter than firstResponseMinutes.",
                "resolutionMinutes",
            )
        )
    if problems:
        raise UserInputError.many(problems)
    category = await resolve_leaf(slug=category_slug)
    now = clock.now()
    async with in_transaction():
        # One current policy per category and urgency: writers of one category take turns.
        await Category.filter(id=category.id).select_for_update().first()
        stored_hours = None if hours is None else hours.stored()
        current = await current_policy(category.id, urgent)
        if current is not None and (
            current.first_response_minutes,
            current.resolution_minutes,
            current.business_hours,
        ) == (first_response_minutes, resolution_minutes, stored_hours):
            return current  # the same policy again (a retry): no new version
        await SlaPolicy.filter(
            category_id=category.id, urgent=urgent, replaced_at__isnull=True
        ).update(replaced_at=now)
        return await SlaPolicy.create(
            category_id=category.id,
            urgent=urgent,
            first_response_minutes=first_response_minutes,
            resolution_minutes=resolution_minutes,
            business_hours=stored_hours,
            created_at=now,
        )


# --- due times -----------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """The SLA columns of one ticket, as they are and as a change makes them."""

    status: TicketStatus
    created_at: datetime
    policy: SlaPolicy | None
    first_response_due_at: datetime | None
    first_responded_at: datetime | None
    resolution_due_at: datetime | None
    paused_since: datetime | None
    paused_seconds: int
    first_response_breached: bool
    resolution_breached: bool

    @classmethod
    def of(cls, ticket: Ticket, policy: SlaPolicy | None) -> _State:
        return cls(
            ticket.status,
            ticket.created_at,
            policy,
            ticket.first_response_due_at,
            ticket.first_responded_at,
            ticket.resolution_due_at,
            ticket.sla_paused_since,
            ticket.sla_paused_seconds,
            ticket.first_response_breached,
            ticket.resolution_breached,
        )

    @property
    def hours(self) -> BusinessHours | None:
        return None if self.policy is None else BusinessHours.of(self.policy.business_hours)

    def retarget(self) -> None:
        """Due times of the targets not yet met nor breached, from the policy and pauses."""
        if self.policy is None:
            return
        if self.first_responded_at is None and not self.first_response_breached:
            self.first_response_due_at = self._due(self.policy.first_response_minutes)
        if not self.resolution_breached:
            self.resolution_due_at = self._due(self.policy.resolution_minutes)

    def _due(self, minutes: int) -> datetime:
        return add_time(self.hours, self.created_at, minutes * 60 + self.paused_seconds)

    def breach_overdue(self, now: datetime) -> list[SlaTarget]:
        """Mark breached, and return, the targets whose due time passed unmet and unbreached:
        before `now`, or before the pause that froze them."""
        until = self.paused_since or now
        overdue = [target for target, due, was in self.unmet() if not was and due <= until]
        for target in overdue:
            if target is SlaTarget.FIRST_RESPONSE:
                self.first_response_breached = True
            else:
                self.resolution_breached = True
        return overdue

    def unmet(self) -> list[tuple[SlaTarget, datetime, bool]]:
        """(target, due time, breached) of the targets not met yet; none once final."""
        if self.status in FINAL_STATUSES:
            return []
        found = []
        if self.first_responded_at is None and self.first_response_due_at is not None:
            found.append(
                (SlaTarget.FIRST_RESPONSE, self.first_response_due_at, self.first_response_breached)
            )
        if self.resolution_due_at is not None:
            found.append((SlaTarget.RESOLUTION, self.resolution_due_at, self.resolution_breached))
        return found

    def columns(self) -> dict[str, Any]:
        unmet = self.unmet()
        pending = [due for _, due, breached in unmet if not breached]
        paused = self.paused_since is not None
        return {
            "first_response_due_at": self.first_response_due_at,
            "first_responded_at": self.first_responded_at,
            "resolution_due_at": self.resolution_due_at,
            "sla_paused_since": self.paused_since,
            "sla_paused_seconds": self.paused_seconds,
            "first_response_breached": self.first_response_breached,
            "resolution_breached": self.resolution_breached,
            "sla_due_at": min((due for _, due, _ in unmet), default=NO_DUE_TIME),
            "sla_check_at": None if paused or not pending else min(pending),
        }


def meets_first_response(viewer: Viewer, *, internal: bool) -> bool:
    """The first public reply of staff meets the first-response target."""
    return viewer.is_staff and not internal


async def initial_columns(category_id: int, urgent: bool, now: datetime) -> dict[str, Any]:
    """The SLA columns of a ticket created now (none when its category has no policy)."""
    policy = await current_policy(category_id, urgent)
    state = _State(TicketStatus.OPEN, now, policy, None, None, None, None, 0, False, False)
    state.retarget()
    return {"sla_policy_id": None if policy is None else policy.id, **state.columns()}


@dataclass(slots=True)
class Followed:
    """What a change of a ticket does to its SLA: columns to set, and the new policy when the
    change re-targeted it."""

    fields: dict[str, Any] = field(default_factory=dict)
    retargeted: SlaPolicy | None = None
    breached: list[SlaTarget] = field(default_factory=list)


async def follow_change(
    ticket: Ticket, changes: dict[str, Any], now: datetime, *, first_response: bool
) -> Followed:
    """The SLA columns after `changes` (columns about to be set on `ticket` as read):
    a target whose due time passed before the change is breached first (the scan may not have
    come by yet: a late answer or close must not hide the breach); a public staff reply meets
    the first response; entering AWAITING_REPLY pauses, leaving it resumes with due times moved
    by the pause; a new category or urgency re-targets."""
    status = changes.get("status", ticket.status)
    category_id = changes.get("category_id", ticket.category_id)
    urgent = changes.get("urgent", ticket.urgent)
    moved = category_id != ticket.category_id or urgent != ticket.urgent
    resumes = ticket.sla_paused_since is not None and status is not TicketStatus.AWAITING_REPLY
    # The policy only matters to move due times: most changes need no read.
    policy = None
    if ticket.sla_policy_id is not None and (moved or resumes):
        policy = await SlaPolicy.get_or_none(id=ticket.sla_policy_id)
    state = _State.of(ticket, policy)
    result = Followed(breached=state.breach_overdue(now))
    if first_response and state.first_responded_at is None:
        state.first_responded_at = now
    if resumes and state.paused_since is not None:
        state.paused_seconds += round(elapsed(state.hours, state.paused_since, now))
        state.paused_since = None
        state.retarget()
    elif state.paused_since is None and status is TicketStatus.AWAITING_REPLY:
        state.paused_since = now
    if moved and status not in FINAL_STATUSES:
        target = await current_policy(category_id, urgent)
        if target is not None and target.id != ticket.sla_policy_id:
            state.policy = target
            # The pauses so far, measured in the new policy's hours.
            until = now if state.paused_since is None else state.paused_since
            state.paused_seconds = round(await _paused(state.hours, ticket.id, until))
            state.retarget()
            result.retargeted = target
    state.status = status
    before = _State.of(ticket, policy).columns()
    result.fields = {k: v for k, v in state.columns().items() if before.get(k) != v}
    if result.retargeted is not None:
        result.fields["sla_policy_id"] = result.retargeted.id
    return result


async def _paused(hours: BusinessHours | None, ticket_id: int, until: datetime) -> float:
    """Business time (in `hours`) the ticket spent AWAITING_REPLY, read from its status changes;
    a pause the log shows still running counts up to `until`."""
    changes = (
        await TicketEvent.filter(ticket_id=ticket_id, kind=EventKind.STATUS_CHANGED)
        .order_by("id")
        .values_list("at", "from_status", "to_status")
    )
    waiting = TicketStatus.AWAITING_REPLY
    total, since = 0.0, None
    for at, before, after in changes:
        if after == waiting and before != waiting:
            since = at
        elif before == waiting and after != waiting and since is not None:
            total += elapsed(hours, since, at)
            since = None
    if since is not None:
        total += elapsed(hours, since, until)
    return total


# --- breaches ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breach:
    ticket: Ticket
    events: list[TicketEvent]


async def _system_actor() -> str:
    await User.get_or_create(id=SYSTEM_USER, defaults={"name": "SLA", "role": Role.AGENT})
    return SYSTEM_USER


async def record_breaches(
    ticket: Ticket, targets: list[SlaTarget], now: datetime
) -> list[TicketEvent]:
    """One SLA_BREACHED event (staff only) per target; inside the transaction that marks them."""
    if not targets:
        return []
    actor = await _system_actor()
    return [
        await events.record(
            ticket,
            EventKind.SLA_BREACHED,
            actor_id=actor,
            at=now,
            internal=True,
            data={"slaTarget": target.value},
        )
        for target in targets
    ]


async def breach_due(*, broker: Broker, limit: int = SCAN_BATCH) -> int:
    """One scan: every target whose due time has passed is marked breached, with one
    SLA_BREACHED event, in the transaction that claims its ticket; published after commit.
    Returns how many tickets were breached (a full batch: call again)."""
    now = clock.now()
    breaches: list[Breach] = []
    async with in_transaction():
        rows = (
            await Ticket.filter(sla_check_at__lte=now)
            .order_by("sla_check_at")
            .limit(limit)
            .select_for_update(skip_locked=True)
        )
        for ticket in rows:
            state = _State.of(ticket, None)
            breached = state.breach_overdue(now)
            # A new version (a change made meanwhile from the old one retries and sees the
            # breach, never writes it twice), but not a new `updatedAt`: nothing a customer
            # sees has changed.
            values = state.columns() | {"version": ticket.version + 1}
            await Ticket.filter(id=ticket.id).update(**values)
            ticket.update_from_dict(values)
            breaches.append(Breach(ticket, await record_breaches(ticket, breached, now)))
    for breach in breaches:
        await events.publish(broker, breach.ticket, breach.events)
    return len(breaches)


async def breached_active_count(*, viewer: Viewer) -> int:
    """Staff: tickets not yet final with a breached target (0 for customers)."""
    if not visibility.may_see_service_levels(viewer):
        return 0
    query = visibility.tickets(viewer).filter(status__not_in=list(FINAL_STATUSES))
    return await query.filter(breached_filter(True)).count()


def breached_filter(breached: bool) -> Q:
    """Tickets with a breached target (or with none)."""
    if breached:
        return Q(first_response_breached=True) | Q(resolution_breached=True)
    return Q(first_response_breached=False, resolution_breached=False)
