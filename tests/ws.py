"""A minimal graphql-transport-ws client over aiohttp, as the `graphql-ws` npm client speaks it."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

PROTOCOL = "graphql-transport-ws"


@dataclass
class Socket:
    ws: aiohttp.ClientWebSocketResponse
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self.ids))
        await self.ws.send_json(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return op_id

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        """The next protocol message other than ping/pong."""
        while True:
            message = await asyncio.wait_for(self.ws.receive(), within)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return {"type": "closed", "code": self.ws.close_code}
            # The protocol speaks JSON in text frames; browser clients reject anything else.
            assert message.type == aiohttp.WSMsgType.TEXT, message
            data = message.json()
            if data["type"] == "ping":
                await self.ws.send_json({"type": "pong"})
                continue
            if data["type"] != "pong":
                return data

    async def next_data(self, op_id: str, within: float = 5.0) -> dict[str, Any]:
        message = await self.receive(within)
        assert message.get("id") == op_id and message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]

    async def nothing_within(self, seconds: float) -> None:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {message}")

    async def close(self) -> None:
        await self.ws.close()


async def connect(
    client: TestClient, payload: dict[str, Any] | None = None, *, ack: bool = True
) -> Socket:
    ws = await client.ws_connect("/graphql", protocols=[PROTOCOL])
    assert ws.protocol == PROTOCOL
    await ws.send_json({"type": "connection_init", "payload": payload or {}})
    socket = Socket(ws)
    if ack:
        message = await socket.receive()
        assert message["type"] == "connection_ack", message
    return socket
