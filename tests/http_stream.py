"""A reader of subscriptions over HTTP, as clients read them: SSE events or multipart parts."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

SSE = "text/event-stream"
MULTIPART = 'multipart/mixed;subscriptionSpec="1.0",application/json'
ACCEPTS = {"sse": SSE, "multipart": MULTIPART}
BOUNDARY = b"\r\n--graphql"


@dataclass
class Stream:
    response: aiohttp.ClientResponse
    kind: str
    buffer: bytes = b""
    started: bool = False
    heartbeats: int = 0
    seen: list[tuple[str, Any]] = field(default_factory=list)

    async def event(self, within: float = 10.0) -> tuple[str, Any]:
        """("next", result), ("complete", None), or ("end", None) when the stream stops without
        `complete`; heartbeats are skipped."""
        reader = self._sse if self.kind == "sse" else self._multipart
        event = await asyncio.wait_for(reader(), within)
        self.seen.append(event)
        return event

    async def next(self, within: float = 10.0) -> dict[str, Any]:
        """The next result, which must carry data and no errors."""
        kind, result = await self.event(within)
        assert kind == "next" and "errors" not in result, (kind, result)
        return result["data"]

    async def _sse(self) -> tuple[str, Any]:
        name, data = None, []
        while True:
            line = await self.response.content.readline()
            if not line:
                return ("end", None)
            text = line.decode().rstrip("\r\n")
            if text.startswith(":"):
                self.heartbeats += 1
                continue
            if text:
                field_name, _, value = text.partition(":")
                if field_name == "event":
                    name = value.strip()
                elif field_name == "data":
                    data.append(value.removeprefix(" "))
                continue
            if name is None:
                continue
            if name == "complete":
                return ("complete", None)
            assert name == "next", name
            return ("next", json.loads("\n".join(data)))

    async def _multipart(self) -> tuple[str, Any]:
        while True:
            if not self.started and self.buffer.startswith(b"--graphql"):
                self.buffer = self.buffer[len(b"--graphql") :]
                self.started = True
            if self.started and self.buffer.startswith(b"--"):
                return ("complete", None)  # the closing boundary
            at = self.buffer.find(BOUNDARY)
            if self.started and at >= 0:
                part, self.buffer = self.buffer[:at], self.buffer[at + len(BOUNDARY) :]
                headers, _, body = part.partition(b"\r\n\r\n")
                assert b"application/json" in headers.lower(), part
                value = json.loads(body)
                if value == {}:
                    self.heartbeats += 1
                    continue
                return ("next", value["payload"])
            chunk = await self.response.content.readany()
            if not chunk:
                return ("end", None)
            self.buffer += chunk

    def close(self) -> None:
        self.response.close()


async def subscribe(
    client: TestClient,
    kind: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    method: str = "POST",
) -> Stream:
    """Open a subscription stream (`kind` "sse" or "multipart"); the response must be a stream."""
    response = await request(client, kind, query, variables, token=token, method=method)
    assert response.status == 200, await response.text()
    return Stream(response, kind)


async def request(
    client: TestClient,
    kind: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    method: str = "POST",
) -> aiohttp.ClientResponse:
    headers = {"Accept": ACCEPTS[kind]}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if method == "GET":
        params = {"query": query, "variables": json.dumps(variables or {})}
        return await client.get("/graphql", params=params, headers=headers)
    body = {"query": query, "variables": variables or {}}
    return await client.post("/graphql", json=body, headers=headers)
