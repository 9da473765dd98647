"""Results that are ready together go to each socket together, still as separate messages."""

from __future__ import annotations

import asyncio
import base64
import secrets
from typing import Any

import orjson
import pytest

from server.app import SHARED
from server.fanout import Batch
from tests.conftest import Api
from tests.fixtures import REPLY, create_ticket
from tests.ws import PROTOCOL, Socket, connect

EVENTS = "subscription { ticketEvents { id kind message { body } } }"
KINDS = "subscription { ticketEvents { kind } }"  # messages below 126 bytes: 7-bit lengths


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(first byte, payload) of each frame, as RFC 6455 reads frames a server sends."""
    frames = []
    while data:
        first, second = data[0], data[1]
        assert not second & 0x80, "a server's frames are not masked"
        size, start = second & 0x7F, 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        elif size == 127:
            size, start = int.from_bytes(data[2:10], "big"), 10
        assert len(data) >= start + size, "a frame is cut short"
        frames.append((first, data[start : start + size]))
        data = data[start + size :]
    return frames


def test_a_batch_is_one_text_frame_per_result_with_the_length_it_needs() -> None:
    payloads = [orjson.dumps({"data": {"n": "x" * size}}).decode() for size in (1, 200, 70_000)]
    prefix = '{"id":"op-7","type":"next","payload":'
    frames = server_frames(Batch(payloads).websocket_frames(prefix))
    assert [first for first, _ in frames] == [0x81, 0x81, 0x81]  # FIN, text
    messages = [orjson.loads(payload) for _, payload in frames]
    assert messages == [
        {"id": "op-7", "type": "next", "payload": orjson.loads(p)} for p in payloads
    ]


async def wait_groups(api: Api, count: int) -> None:
    for _ in range(50):
        if api.client.server.app[SHARED].group_count == count:
            break
        await asyncio.sleep(0.05)
    assert api.client.server.app[SHARED].group_count == count
    await asyncio.sleep(0.1)


async def replies_at_once(api: Api, count: int) -> tuple[str, list[str]]:
    """A ticket, then `count` replies sent together; (ticket id, bodies, in the order kept)."""
    ticket = await create_ticket(api, "ann")
    bodies = [secrets.token_hex(size) for size in (10, 300, 5_000) * (count // 3)]
    await asyncio.gather(
        *(
            api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": body}}, as_="ann")
            for body in bodies
        )
    )
    return ticket["id"], bodies


async def events(socket: Socket, op_id: str, count: int) -> list[dict[str, Any]]:
    return [(await socket.next_data(op_id, within=10.0))["ticketEvents"] for _ in range(count)]


async def by_operation(socket: Socket, count: int) -> dict[str, list[dict[str, Any]]]:
    """The next `count` messages, each a whole `next` message, by operation id."""
    received: dict[str, list[dict[str, Any]]] = {}
    for _ in range(count):
        message = await socket.receive(within=10.0)
        assert message["type"] == "next" and "errors" not in message["payload"], message
        received.setdefault(message["id"], []).append(message["payload"]["data"]["ticketEvents"])
    return received


async def test_events_ready_together_reach_every_member_in_order_as_separate_messages(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A round yields after each member: the events that come out meanwhile make one batch.
    monkeypatch.setattr("server.fanout.ROUND_SLICE", 1)
    sockets = [
        await connect(api.client, {"token": api.token(f"agent-{i}", "agent")}) for i in range(4)
    ]
    ops = [await socket.subscribe(EVENTS) for socket in sockets]
    kinds_op = await sockets[0].subscribe(KINDS)  # a second operation on one socket
    await wait_groups(api, 2)

    _, bodies = await replies_at_once(api, 12)

    both = await by_operation(sockets[0], 26)  # the two operations' messages, interleaved
    received = [both[ops[0]]] + [
        await events(socket, op, 13) for socket, op in zip(sockets[1:], ops[1:], strict=True)
    ]
    for seen in received:
        assert seen == received[0]  # the same events, in the same order, each once
    assert [e["kind"] for e in received[0]] == ["CREATED"] + ["MESSAGE_ADDED"] * 12
    ids = [int(base64.b64decode(e["id"]).split(b":")[1]) for e in received[0]]  # log order
    assert ids == sorted(set(ids))
    assert sorted(e["message"]["body"] for e in received[0][1:]) == sorted(bodies)
    assert both[kinds_op] == [{"kind": e["kind"]} for e in received[0]]
    for socket in sockets:
        await socket.nothing_within(0.3)
        await socket.close()


async def test_a_compressed_connection_gets_the_same_messages(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("server.fanout.ROUND_SLICE", 1)
    plain = await connect(api.client, {"token": api.token("agent-1", "agent")})
    ws = await api.client.ws_connect("/graphql", protocols=[PROTOCOL], compress=15)
    assert ws.compress == 15  # permessage-deflate negotiated
    compressed = Socket(ws)
    await ws.send_json(
        {"type": "connection_init", "payload": {"token": api.token("agent-2", "agent")}}
    )
    assert (await compressed.receive())["type"] == "connection_ack"
    plain_op, compressed_op = await plain.subscribe(EVENTS), await compressed.subscribe(EVENTS)
    await wait_groups(api, 1)

    await replies_at_once(api, 9)

    expected = await events(plain, plain_op, 10)
    assert await events(compressed, compressed_op, 10) == expected
    for socket in (plain, compressed):
        await socket.close()
