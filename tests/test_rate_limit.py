"""Mutations are rate limited per user: RATE_LIMITED with retryAfter, nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.rate_limiters import RedisLimiter
from services.rate_limit import MemoryLimiter, Rate, gcra
from tests.conftest import REDIS_URL, Api, Backend, serve
from tests.fixtures import CREATE, missing_id
from tests.ws import connect


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gcra_allows_a_burst_then_the_sustained_rate() -> None:
    rate = Rate(per_minute=60, burst=3)  # one per second, three at once
    tat = None
    for _ in range(3):
        tat, wait = gcra(tat, 0.0, rate)
        assert tat is not None and wait == 0
    refused, wait = gcra(tat, 0.0, rate)
    assert refused is None and wait == pytest.approx(1.0)
    later, wait = gcra(tat, 1.0, rate)
    assert later is not None and wait == 0


async def test_memory_limiter_keeps_users_apart_and_refills() -> None:
    clock = Clock()
    limiter = MemoryLimiter(Rate(per_minute=120, burst=2), clock=clock)
    assert [await limiter.acquire("a") for _ in range(3)] == [0, 0, pytest.approx(0.5)]
    assert await limiter.acquire("b") == 0
    clock.now += 0.5
    assert await limiter.acquire("a") == 0
    assert await limiter.acquire("a") == pytest.approx(0.5)


@pytest.mark.skipif(REDIS_URL is None, reason="needs HELPDESK_TEST_REDIS_URL")
async def test_redis_limiter_shares_one_budget_between_processes() -> None:
    assert REDIS_URL is not None
    rate = Rate(per_minute=60, burst=3)
    one, two = RedisLimiter(REDIS_URL, rate), RedisLimiter(REDIS_URL, rate)
    key = f"test:{uuid.uuid4().hex}"
    try:
        waits = [await limiter.acquire(key) for limiter in (one, two, one, two)]
        assert waits[:3] == [0, 0, 0]
        assert 0 < waits[3] <= 1.0
        assert await one.acquire(f"other:{key}") == 0
    finally:
        await one.close()
        await two.close()


def create_input(key: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"categorySlug": "app-help", "question": "How do I start?"}
    if key:
        values["clientMutationId"] = key
    return {"input": values}


CREATE_WITH_RETRY = CREATE.replace(
    "errors { code field message }", "errors { code field message retryAfter }"
)
COUNT = "{ tickets { totalCount } }"


async def test_mutations_over_the_budget_are_refused_with_retry_after(backend: Backend) -> None:
    user = f"busy-{uuid.uuid4().hex[:8]}"
    async with serve(backend, rate_limit_per_minute=6, rate_limit_burst=2) as client:
        api = Api(client)
        for _ in range(2):
            data = await api.gql(CREATE_WITH_RETRY, create_input(), as_=user)
            assert data["createTicket"]["errors"] == []
        response = await client.post(
            "/graphql",
            json={"query": CREATE_WITH_RETRY, "variables": create_input("k-3")},
            headers={"Authorization": f"Bearer {api.token(user)}"},
        )
        assert response.status == 200
        payload = (await response.json())["data"]["createTicket"]
        assert payload["ticket"] is None
        assert payload["clientMutationId"] == "k-3"
        [error] = payload["errors"]
        assert error["code"] == "RATE_LIMITED" and error["field"] is None
        assert 0 < error["retryAfter"] <= 10
        assert "retry in" in error["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 10
        # Nothing changed, queries still answer, and other users have their own budget.
        assert (await api.gql(COUNT, as_=user))["tickets"]["totalCount"] == 2
        other = f"calm-{uuid.uuid4().hex[:8]}"
        data = await api.gql(CREATE_WITH_RETRY, create_input(), as_=other)
        assert data["createTicket"]["errors"] == []


async def test_every_mutation_spends_from_the_same_budget(backend: Backend) -> None:
    user = f"agent-{uuid.uuid4().hex[:8]}"
    take = (
        "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { ticket { id } errors { code } } }"
    )
    urgent = (
        "mutation($i: SetTicketUrgentInput!) { setTicketUrgent(input: $i) "
        "{ ticket { id } errors { code retryAfter } } }"
    )
    async with serve(backend, rate_limit_per_minute=6, rate_limit_burst=2) as client:
        api = Api(client)
        data = await api.gql(
            take, {"i": {"ticketId": missing_id("Ticket")}}, as_=user, role="agent"
        )
        assert data["takeTicket"]["errors"] == [{"code": "NOT_FOUND"}]  # still spent
        data = await api.gql(
            urgent,
            {"i": {"ticketId": missing_id("Ticket"), "urgent": True}},
            as_=user,
            role="agent",
        )
        assert data["setTicketUrgent"]["errors"][0]["code"] == "NOT_FOUND"
        data = await api.gql(
            urgent,
            {"i": {"ticketId": missing_id("Ticket"), "urgent": True}},
            as_=user,
            role="agent",
        )
        assert data["setTicketUrgent"]["ticket"] is None
        assert data["setTicketUrgent"]["errors"][0]["code"] == "RATE_LIMITED"


async def test_anonymous_mutations_are_unauthenticated_not_limited(backend: Backend) -> None:
    async with serve(backend, rate_limit_per_minute=6, rate_limit_burst=1) as client:
        api = Api(client)
        for _ in range(3):
            error = await api.error(CREATE, create_input())
            assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_mutations_over_websocket_are_limited_too(backend: Backend) -> None:
    user = f"ws-{uuid.uuid4().hex[:8]}"
    async with serve(backend, rate_limit_per_minute=6, rate_limit_burst=1) as client:
        api = Api(client)
        socket = await connect(client, {"token": api.token(user)})
        try:
            codes = []
            for _ in range(2):
                op = await socket.subscribe(CREATE_WITH_RETRY, create_input())
                data = await socket.next_data(op)
                codes.append([e["code"] for e in data["createTicket"]["errors"]])
                assert (await socket.receive())["type"] == "complete"
            assert codes == [[], ["RATE_LIMITED"]]
            assert data["createTicket"]["errors"][0]["retryAfter"] > 0
        finally:
            await socket.close()


async def test_the_limit_can_be_turned_off(backend: Backend) -> None:
    user = f"free-{uuid.uuid4().hex[:8]}"
    async with serve(backend, rate_limit_per_minute=0, rate_limit_burst=1) as client:
        api = Api(client)
        for _ in range(4):
            data = await api.gql(CREATE_WITH_RETRY, create_input(), as_=user)
            assert data["createTicket"]["errors"] == []
