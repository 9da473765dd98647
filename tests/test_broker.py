"""The broker contract, run against every configured backend (memory always, Redis when set)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from pubsub import Broker, BrokerUnavailable, MemoryBroker, broker_from_url
from pubsub.redis import CircuitBreaker, RedisBroker
from tests.conftest import REDIS_URL

TIMEOUT = 5.0
QUIET = 0.3  # how long "nothing arrives" is watched for


@pytest.fixture(
    params=[
        "memory",
        pytest.param(
            "redis",
            marks=pytest.mark.skipif(not REDIS_URL, reason="HELPDESK_TEST_REDIS_URL is not set"),
        ),
    ]
)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    instance: Broker = MemoryBroker() if request.param == "memory" else RedisBroker(REDIS_URL or "")
    await instance.connect()
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
def channel() -> str:
    return f"test-broker-{uuid.uuid4().hex}"


async def take(messages: AsyncIterator[bytes], count: int) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [await anext(messages) for _ in range(count)]

    return await asyncio.wait_for(collect(), TIMEOUT)


async def test_ping_after_connect(broker: Broker) -> None:
    assert await asyncio.wait_for(broker.ping(), TIMEOUT) is True


async def test_subscriber_receives_later_messages_in_order(broker: Broker, channel: str) -> None:
    sent = [f"message {i}".encode() for i in range(20)]
    async with broker.subscribe(channel) as messages:
        for message in sent:
            await broker.publish(channel, message)
        assert await take(messages, len(sent)) == sent


async def test_messages_published_before_subscribing_are_not_delivered(
    broker: Broker, channel: str
) -> None:
    await broker.publish(channel, b"before")
    async with broker.subscribe(channel) as messages:
        await broker.publish(channel, b"after")
        assert await take(messages, 1) == [b"after"]


async def test_every_subscriber_receives_each_message(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as first, broker.subscribe(channel) as second:
        await broker.publish(channel, b"one")
        await broker.publish(channel, b"two")
        assert await take(first, 2) == [b"one", b"two"]
        assert await take(second, 2) == [b"one", b"two"]


async def test_other_channels_are_not_received(broker: Broker, channel: str) -> None:
    other = f"{channel}-other"
    async with broker.subscribe(channel) as messages:
        await broker.publish(other, b"not for you")
        await broker.publish(channel, b"for you")
        assert await take(messages, 1) == [b"for you"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(messages), QUIET)


async def test_publishing_after_the_subscriber_left(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as messages:
        await broker.publish(channel, b"while subscribed")
        assert await take(messages, 1) == [b"while subscribed"]
    await asyncio.wait_for(broker.publish(channel, b"nobody listens"), TIMEOUT)

    async with broker.subscribe(channel) as again:
        await broker.publish(channel, b"fresh")
        assert await take(again, 1) == [b"fresh"]


async def test_subscribers_leave_independently(broker: Broker, channel: str) -> None:
    async with broker.subscribe(channel) as staying:
        async with broker.subscribe(channel) as leaving:
            await broker.publish(channel, b"both")
            assert await take(leaving, 1) == [b"both"]
        await broker.publish(channel, b"one left")
        assert await take(staying, 2) == [b"both", b"one left"]


async def test_binary_payloads_are_delivered_unchanged(broker: Broker, channel: str) -> None:
    payload = bytes(range(256)) + "тикет ✓".encode()
    async with broker.subscribe(channel) as messages:
        await broker.publish(channel, payload)
        assert await take(messages, 1) == [payload]


def test_broker_from_url() -> None:
    assert isinstance(broker_from_url("memory://"), MemoryBroker)
    assert isinstance(broker_from_url("redis://127.0.0.1:6379/0"), RedisBroker)
    assert isinstance(broker_from_url("rediss://cache.example:6380/1"), RedisBroker)
    with pytest.raises(ValueError, match="kafka"):
        broker_from_url("kafka://localhost:9092")


async def test_unreachable_redis_pings_false() -> None:
    """readyz relies on ping() answering False, not raising, when Redis is down."""
    unreachable = RedisBroker("redis://127.0.0.1:1/0")
    await unreachable.connect()
    try:
        assert await asyncio.wait_for(unreachable.ping(), 15) is False
    finally:
        await unreachable.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_breaker_leaves_a_failed_redis_alone_then_probes_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="test", timeout=0.05, cooldown=5.0, clock=clock)
    calls: list[str] = []

    async def hangs() -> str:
        calls.append("hangs")
        await asyncio.Event().wait()
        return "never"

    async def answers() -> str:
        calls.append("answers")
        return "pong"

    with pytest.raises(BrokerUnavailable):
        await breaker.call(hangs)  # no answer within the timeout
    with pytest.raises(BrokerUnavailable):
        await breaker.call(answers)  # left alone: not even tried
    assert calls == ["hangs"] and breaker.is_open

    clock.now += 5.0
    with pytest.raises(BrokerUnavailable):
        await breaker.call(hangs)  # the probe fails: another cool-down
    clock.now += 4.9
    with pytest.raises(BrokerUnavailable):
        await breaker.call(answers)
    assert calls == ["hangs", "hangs"]

    clock.now += 0.1
    assert await breaker.call(answers) == "pong"  # the probe succeeds: closed again
    assert await breaker.call(answers) == "pong"
    assert not breaker.is_open


async def test_circuit_breaker_lets_a_readiness_probe_through_while_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="test", timeout=0.05, cooldown=5.0, clock=clock)

    async def hangs() -> str:
        await asyncio.Event().wait()
        return "never"

    async def answers() -> str:
        return "pong"

    with pytest.raises(BrokerUnavailable):
        await breaker.call(hangs)
    assert await breaker.call(answers, probe=True) == "pong"
    assert not breaker.is_open


async def test_circuit_breaker_stays_closed_on_errors_that_cost_no_wait() -> None:
    """A refused connection fails the call but is met again at once: nothing to skip."""
    breaker = CircuitBreaker(name="test", timeout=0.05, cooldown=5.0, clock=Clock())

    async def refused() -> str:
        raise ConnectionError("refused")

    with pytest.raises(BrokerUnavailable):
        await breaker.call(refused)
    assert not breaker.is_open
