"""Service levels through the API: due times from each policy, the first response, pausing and
resuming across AWAITING_REPLY (around the clock and in business hours), policy changes and
re-targeting, and staff-only visibility. The services' clock is set, never waited for."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from services.sla import BusinessHours
from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.workflow import RECATEGORIZE, STATUS, TAKE, URGENT

OWNER, AGENT, ADMIN = "ann", "agent-1", "boss"
# A Monday, 10:00 UTC.
MONDAY = datetime.fromisoformat("2026-03-02T10:00:00+00:00")

SLA_FIELDS = """
  policy { id urgent firstResponseMinutes resolutionMinutes category { slug }
           businessHours { timeZone weekdays start end } }
  firstResponseDueAt firstRespondedAt resolutionDueAt resolvedAt pausedSince
  firstResponseBreached resolutionBreached
"""
SLA = "query Sla($id: ID!) { ticket(id: $id) { status version sla { %s } events { kind } } }" % (
    SLA_FIELDS
)
POLICIES = """{ slaPolicies { id urgent firstResponseMinutes resolutionMinutes
  category { slug } businessHours { timeZone weekdays start end } } }"""
SET_POLICY = """
mutation Set($input: SetSlaPolicyInput!) {
  setSlaPolicy(input: $input) {
    slaPolicy { id urgent firstResponseMinutes resolutionMinutes category { slug }
                businessHours { timeZone weekdays start end } }
    errors { code field message }
  }
}"""


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def sla(api: Api, ticket_id: str, as_: str = AGENT, role: str = "agent") -> Any:
    return (await api.gql(SLA, {"id": ticket_id}, as_=as_, role=role))["ticket"]


async def set_policy(api: Api, **values: Any) -> dict[str, Any]:
    data = await api.gql(SET_POLICY, {"input": values}, as_=ADMIN, role="admin")
    return dict(data["setSlaPolicy"])


async def agent(api: Api, query: str, **values: Any) -> Any:
    data = await api.gql(query, {"input": values}, as_=AGENT, role="agent")
    payload = next(iter(data.values()))
    assert payload["errors"] == [], payload["errors"]
    return payload


@pytest.mark.parametrize(("urgent", "first", "resolution"), [(True, 1, 8), (False, 4, 72)])
async def test_due_times_follow_the_seeded_policy(
    api: Api, clock: Any, urgent: bool, first: int, resolution: int
) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER, urgent=urgent)

    found = (await sla(api, ticket["id"]))["sla"]

    assert instant(found["firstResponseDueAt"]) == MONDAY + timedelta(hours=first)
    assert instant(found["resolutionDueAt"]) == MONDAY + timedelta(hours=resolution)
    assert found["policy"]["urgent"] is urgent
    assert found["policy"]["businessHours"] is None
    assert (found["firstRespondedAt"], found["resolvedAt"], found["pausedSince"]) == (None,) * 3
    assert (found["firstResponseBreached"], found["resolutionBreached"]) == (False, False)


async def test_every_leaf_category_has_a_policy_per_urgency(api: Api) -> None:
    policies = (await api.gql(POLICIES, as_=AGENT, role="agent"))["slaPolicies"]
    keys = {(p["category"]["slug"], p["urgent"]) for p in policies}
    leaves = ["app-help", "system-errors", "metric-billing", "other"]
    assert keys == {(slug, urgent) for slug in leaves for urgent in (True, False)}
    assert len(policies) == len(keys)


async def test_service_levels_are_for_staff_only(api: Api) -> None:
    ticket = await create_ticket(api, OWNER)

    assert (await sla(api, ticket["id"], as_=OWNER, role="customer"))["sla"] is None
    assert (await api.error(POLICIES, as_=OWNER))["extensions"]["code"] == "FORBIDDEN"
    values = {
        "categorySlug": "app-help",
        "urgent": False,
        "firstResponseMinutes": 5,
        "resolutionMinutes": 10,
    }
    for user, role in ((OWNER, "customer"), (AGENT, "agent")):
        error = await api.error(SET_POLICY, {"input": values}, as_=user, role=role)
        assert error["extensions"]["code"] == "FORBIDDEN"
    for kind, value in (("slaBreached", True), ("orderBy", {"field": "SLA_DUE"})):
        query = "query($v: %s) { tickets(%s: $v) { totalCount } }" % (
            "TicketFilter" if kind == "slaBreached" else "TicketOrder",
            "filter" if kind == "slaBreached" else "orderBy",
        )
        variables = {"v": {kind: value} if kind == "slaBreached" else value}
        error = await api.error(query, variables, as_=OWNER)
        assert error["extensions"]["code"] == "FORBIDDEN"
    stats = await api.gql("{ ticketStats { slaBreachedActive } }", as_=OWNER)
    assert stats["ticketStats"]["slaBreachedActive"] == 0


async def test_a_new_policy_applies_to_tickets_created_after_it(api: Api, clock: Any) -> None:
    clock.set(MONDAY)
    before = await create_ticket(api, OWNER)
    payload = await set_policy(
        api,
        categorySlug="app-help",
        urgent=False,
        firstResponseMinutes=30,
        resolutionMinutes=120,
    )
    after = await create_ticket(api, OWNER)

    assert payload["errors"] == []
    assert payload["slaPolicy"]["firstResponseMinutes"] == 30
    old, new = (await sla(api, before["id"]))["sla"], (await sla(api, after["id"]))["sla"]
    assert instant(old["firstResponseDueAt"]) == MONDAY + timedelta(hours=4)
    assert instant(new["firstResponseDueAt"]) == MONDAY + timedelta(minutes=30)
    assert instant(new["resolutionDueAt"]) == MONDAY + timedelta(minutes=120)
    assert new["policy"] == payload["slaPolicy"]
    policies = (await api.gql(POLICIES, as_=AGENT, role="agent"))["slaPolicies"]
    current = [p for p in policies if p["category"]["slug"] == "app-help" and not p["urgent"]]
    assert current == [payload["slaPolicy"]]

    # Sent again (a retry), the same policy stays current: no new version.
    again = await set_policy(
        api, categorySlug="app-help", urgent=False, firstResponseMinutes=30, resolutionMinutes=120
    )
    assert again == payload


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"firstResponseMinutes": 0}, "firstResponseMinutes"),
        ({"resolutionMinutes": 10**7}, "resolutionMinutes"),
        ({"firstResponseMinutes": 60, "resolutionMinutes": 30}, "resolutionMinutes"),
        (
            {
                "businessHours": {
                    "timeZone": "Mars/Olympus",
                    "weekdays": [1],
                    "start": "09:00",
                    "end": "18:00",
                }
            },
            "businessHours.timeZone",
        ),
        (
            {
                "businessHours": {
                    "timeZone": "UTC",
                    "weekdays": [0, 8],
                    "start": "09:00",
                    "end": "18:00",
                }
            },
            "businessHours.weekdays",
        ),
        (
            {"businessHours": {"timeZone": "UTC", "weekdays": [1], "start": "9am", "end": "18:00"}},
            "businessHours.start",
        ),
        (
            {
                "businessHours": {
                    "timeZone": "UTC",
                    "weekdays": [1],
                    "start": "18:00",
                    "end": "09:00",
                }
            },
            "businessHours.end",
        ),
        (  # digits beyond ASCII: "²" passes str.isdigit
            {
                "businessHours": {
                    "timeZone": "UTC",
                    "weekdays": [1],
                    "start": "²9:00",
                    "end": "18:00",
                }
            },
            "businessHours.start",
        ),
        (  # a year of minutes in one minute a week: beyond any calendar
            {
                "resolutionMinutes": 527_040,
                "businessHours": {
                    "timeZone": "UTC",
                    "weekdays": [1],
                    "start": "00:00",
                    "end": "00:01",
                },
            },
            "resolutionMinutes",
        ),
    ],
)
async def test_set_sla_policy_validates(api: Api, values: dict[str, Any], field: str) -> None:
    given = {
        "categorySlug": "app-help",
        "urgent": True,
        "firstResponseMinutes": 10,
        "resolutionMinutes": 100,
        **values,
    }
    payload = await set_policy(api, **given)
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("VALIDATION", field)]
    assert payload["slaPolicy"] is None


async def test_set_sla_policy_needs_a_leaf_category(api: Api) -> None:
    payload = await set_policy(
        api,
        categorySlug="documents-finance",
        urgent=True,
        firstResponseMinutes=10,
        resolutionMinutes=100,
    )
    assert [e["code"] for e in payload["errors"]] == ["CATEGORY_REQUIRES_SUBTYPE"]


async def test_the_first_public_reply_of_staff_meets_the_first_response(
    api: Api, clock: Any
) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER)
    clock.advance(timedelta(minutes=10))
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "more?"}}, as_=OWNER)
    await agent(api, REPLY, ticketId=ticket["id"], body="note", internal=True)
    assert (await sla(api, ticket["id"]))["sla"]["firstRespondedAt"] is None

    clock.advance(timedelta(minutes=20))
    await agent(api, REPLY, ticketId=ticket["id"], body="On it")
    clock.advance(timedelta(minutes=20))
    await agent(api, REPLY, ticketId=ticket["id"], body="Still on it")

    found = (await sla(api, ticket["id"]))["sla"]
    assert instant(found["firstRespondedAt"]) == MONDAY + timedelta(minutes=30)


async def test_the_clock_stops_while_awaiting_the_customer(api: Api, clock: Any) -> None:
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER)  # normal: 4 h and 3 days
    clock.advance(timedelta(hours=1))
    await agent(api, TAKE, ticketId=ticket["id"])
    await agent(api, STATUS, ticketId=ticket["id"], status="AWAITING_REPLY")

    paused = (await sla(api, ticket["id"]))["sla"]
    assert instant(paused["pausedSince"]) == MONDAY + timedelta(hours=1)

    clock.advance(timedelta(hours=5))
    reply = {"ticketId": ticket["id"], "body": "Here it is"}
    await api.gql(REPLY, {"input": reply}, as_=OWNER)

    resumed = await sla(api, ticket["id"])
    assert resumed["status"] == "IN_PROGRESS"
    assert resumed["sla"]["pausedSince"] is None
    # The first response was still unmet: it moves too.
    assert instant(resumed["sla"]["firstResponseDueAt"]) == MONDAY + timedelta(hours=9)
    assert instant(resumed["sla"]["resolutionDueAt"]) == MONDAY + timedelta(days=3, hours=5)

    # A second pause adds up; an answer by staff meets the first response meanwhile.
    clock.advance(timedelta(hours=1))
    await agent(api, REPLY, ticketId=ticket["id"], body="Thanks, one more", awaitCustomerReply=True)
    clock.advance(timedelta(hours=2))
    await agent(api, STATUS, ticketId=ticket["id"], status="CLOSED")

    closed = (await sla(api, ticket["id"]))["sla"]
    assert instant(closed["firstRespondedAt"]) == MONDAY + timedelta(hours=7)
    assert instant(closed["firstResponseDueAt"]) == MONDAY + timedelta(hours=9)
    assert instant(closed["resolutionDueAt"]) == MONDAY + timedelta(days=3, hours=7)
    assert instant(closed["resolvedAt"]) == MONDAY + timedelta(hours=9)
    assert closed["pausedSince"] is None


async def test_due_times_count_real_time_when_the_clocks_go_back(api: Api, clock: Any) -> None:
    """New York repeats 01:00-02:00 on 2026-11-01: a ticket opened at the second 01:10 is due
    ten real minutes later, not at the first 01:20 (before it was opened)."""
    opened = datetime.fromisoformat("2026-11-01T06:10:00+00:00")  # 01:10 EST, the second one
    clock.set(opened)
    all_week = {"timeZone": "America/New_York", "weekdays": list(range(1, 8))}
    payload = await set_policy(
        api,
        categorySlug="app-help",
        urgent=False,
        firstResponseMinutes=10,
        resolutionMinutes=24 * 60,
        businessHours={**all_week, "start": "00:00", "end": "24:00"},
    )
    assert payload["errors"] == []
    ticket = await create_ticket(api, OWNER)
    found = (await sla(api, ticket["id"]))["sla"]
    assert instant(found["firstResponseDueAt"]) == opened + timedelta(minutes=10)
    # That Sunday lasts 25 hours, all of them working time.
    assert instant(found["resolutionDueAt"]) == opened + timedelta(hours=24)


def test_a_working_day_the_clocks_skip_an_hour_in_is_an_hour_shorter() -> None:
    hours = BusinessHours("Europe/Berlin", (7,), 0, 24 * 60)  # Sundays, all day
    saturday_midnight = datetime.fromisoformat("2026-03-28T23:00:00+00:00")  # 00:00 CET
    sunday_midnight = datetime.fromisoformat("2026-03-29T22:00:00+00:00")  # 00:00 CEST
    assert hours.between(saturday_midnight, sunday_midnight) == 23 * 3600
    assert hours.add(saturday_midnight, 23 * 3600) == sunday_midnight


async def test_a_retarget_measures_earlier_pauses_in_the_new_policy_s_hours(
    api: Api, clock: Any
) -> None:
    friday_4pm = datetime.fromisoformat("2026-03-06T16:00:00+00:00")
    clock.set(friday_4pm)
    office = {"timeZone": "UTC", "weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}
    payload = await set_policy(
        api,
        categorySlug="system-errors",
        urgent=False,
        firstResponseMinutes=60,
        resolutionMinutes=600,
        businessHours=office,
    )
    assert payload["errors"] == []
    ticket = await create_ticket(api, OWNER)  # app-help: around the clock
    await agent(api, TAKE, ticketId=ticket["id"])
    await agent(api, REPLY, ticketId=ticket["id"], body="Which build?", awaitCustomerReply=True)
    clock.set(datetime.fromisoformat("2026-03-09T09:00:00+00:00"))  # Monday
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "1.2.3"}}, as_=OWNER)
    await agent(api, RECATEGORIZE, ticketId=ticket["id"], categorySlug="system-errors")
    found = (await sla(api, ticket["id"]))["sla"]
    # The whole office time since it opened (Friday 16-17) was a pause: 600 minutes are left,
    # all of Monday and two hours of Tuesday.
    due = datetime.fromisoformat("2026-03-10T11:00:00+00:00")
    assert instant(found["resolutionDueAt"]) == due


async def test_business_hours_skip_nights_and_weekends_and_pauses_count_in_them(
    api: Api, clock: Any
) -> None:
    hours = {"timeZone": "Europe/Moscow", "weekdays": [1, 2, 3, 4, 5], "start": "09:00",
             "end": "18:00"}  # fmt: skip
    payload = await set_policy(
        api,
        categorySlug="system-errors",
        urgent=False,
        firstResponseMinutes=60,
        resolutionMinutes=600,
        businessHours=hours,
    )
    assert payload["slaPolicy"]["businessHours"] == {**hours, "weekdays": [1, 2, 3, 4, 5]}
    friday_17_msk = datetime.fromisoformat("2026-03-06T14:00:00+00:00")
    clock.set(friday_17_msk)
    ticket = await create_ticket(api, OWNER, categorySlug="system-errors")

    due = (await sla(api, ticket["id"]))["sla"]
    assert due["firstResponseDueAt"] == "2026-03-06T15:00:00+00:00"  # Friday 18:00 MSK
    assert due["resolutionDueAt"] == "2026-03-09T15:00:00+00:00"  # 1 h Friday + 9 h Monday

    clock.advance(timedelta(minutes=30))  # Friday 17:30 MSK: asks the customer
    await agent(api, TAKE, ticketId=ticket["id"])
    await agent(api, REPLY, ticketId=ticket["id"], body="Which build?", awaitCustomerReply=True)
    clock.set(datetime.fromisoformat("2026-03-09T07:00:00+00:00"))  # Monday 10:00 MSK
    await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": "1.2.3"}}, as_=OWNER)

    # Paused 30 min on Friday and 60 on Monday morning (the weekend does not count).
    resumed = (await sla(api, ticket["id"]))["sla"]
    assert resumed["resolutionDueAt"] == "2026-03-10T07:30:00+00:00"  # Tuesday 10:30 MSK
    assert resumed["firstRespondedAt"] == "2026-03-06T14:30:00+00:00"

    clock.set(datetime.fromisoformat("2026-03-07T12:00:00+00:00"))  # a Saturday
    weekend = await create_ticket(api, OWNER, categorySlug="system-errors")
    found = (await sla(api, weekend["id"]))["sla"]
    assert found["firstResponseDueAt"] == "2026-03-09T07:00:00+00:00"  # Monday 10:00 MSK


async def test_urgency_and_category_changes_retarget_and_are_recorded(api: Api, clock: Any) -> None:
    await set_policy(
        api, categorySlug="other", urgent=True, firstResponseMinutes=15, resolutionMinutes=45
    )
    clock.set(MONDAY)
    ticket = await create_ticket(api, OWNER)
    clock.advance(timedelta(minutes=10))

    await agent(api, URGENT, ticketId=ticket["id"], urgent=True)
    urgent = await sla(api, ticket["id"])
    assert urgent["sla"]["policy"]["urgent"] is True
    assert instant(urgent["sla"]["firstResponseDueAt"]) == MONDAY + timedelta(hours=1)
    assert instant(urgent["sla"]["resolutionDueAt"]) == MONDAY + timedelta(hours=8)

    await agent(api, RECATEGORIZE, ticketId=ticket["id"], categorySlug="other")
    moved = await sla(api, ticket["id"])
    assert moved["sla"]["policy"]["category"]["slug"] == "other"
    assert instant(moved["sla"]["firstResponseDueAt"]) == MONDAY + timedelta(minutes=15)
    assert moved["version"] == ticket["version"] + 2
    kinds = [e["kind"] for e in moved["events"]]
    assert kinds.count("SLA_RETARGETED") == 2

    seen_by_owner = await sla(api, ticket["id"], as_=OWNER, role="customer")
    assert "SLA_RETARGETED" not in [e["kind"] for e in seen_by_owner["events"]]
    assert seen_by_owner["sla"] is None


async def test_a_policy_is_a_node_for_staff_only(api: Api) -> None:
    policies = (await api.gql(POLICIES, as_=AGENT, role="agent"))["slaPolicies"]
    query = "query($id: ID!) { node(id: $id) { __typename ... on SlaPolicy { id urgent } } }"
    variables = {"id": policies[0]["id"]}

    found = (await api.gql(query, variables, as_=AGENT, role="agent"))["node"]
    assert found == {
        "__typename": "SlaPolicy",
        "id": policies[0]["id"],
        "urgent": policies[0]["urgent"],
    }
    assert (await api.gql(query, variables, as_=OWNER))["node"] is None
