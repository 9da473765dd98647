"""Hostile uploads and slow clients: repeated part names, form fields past the body limit, whole
requests past their cap, left-over temporary files, a parallel burst against the quota, image
decoding under its bound, headers and bodies that trickle, and text made of invisible characters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from services import attachments
from tests.conftest import Api, Backend, serve
from tests.fixtures import CREATE, REPLY, create_ticket
from tests.test_attachments import UPLOAD, png, stored_files, upload
from tests.test_live_processes import start_server, stop

OPERATIONS = json.dumps({"query": UPLOAD, "variables": {"f": None}})
BOUNDARY = "helpdesk-test-boundary"


def multipart(parts: list[tuple[str, bytes, str | None]], preamble: bytes = b"") -> bytes:
    """A multipart/form-data body from (name, content, filename or None) parts, in order."""
    out = bytearray(preamble)
    for name, content, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: text/plain\r\n"
        out += b"\r\n" + content + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


def upload_parts(content: bytes = b"hello\n") -> list[tuple[str, bytes, str | None]]:
    return [
        ("operations", OPERATIONS.encode(), None),
        ("map", b'{"0": ["variables.f"]}', None),
        ("0", content, "a.txt"),
    ]


async def post_multipart(
    api: Api, body: bytes | AsyncIterator[bytes], as_: str = "ann"
) -> tuple[int, dict[str, Any]]:
    response = await api.client.post(
        "/graphql",
        data=body,
        headers={
            "Authorization": f"Bearer {api.token(as_)}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    return response.status, await response.json()


@contextlib.asynccontextmanager
async def app(backend: Backend, **settings: Any) -> AsyncIterator[Api]:
    async with serve(backend, **settings) as client:
        yield Api(client)


def incoming_files(backend: Backend) -> list[Path]:
    return [p for p in stored_files(backend) if "incoming" in p.parts]


async def test_a_repeated_part_name_is_400_and_leaves_nothing(api: Api, backend: Backend) -> None:
    before = stored_files(backend)
    parts = [*upload_parts(b"first\n"), ("0", b"second\n", "b.txt"), ("0", b"third\n", "c.txt")]
    status, body = await post_multipart(api, multipart(parts))
    assert status == 400, body
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "repeated" in body["errors"][0]["message"]
    assert stored_files(backend) == before
    # A form field's name taken again by a file is the same mistake.
    parts = [*upload_parts(), ("map", b"again", "map.txt")]
    status, body = await post_multipart(api, multipart(parts))
    assert status == 400, body
    assert stored_files(backend) == before


async def test_multipart_without_a_boundary_is_400(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        data=multipart(upload_parts()),
        headers={
            "Authorization": f"Bearer {api.token('ann')}",
            "Content-Type": "multipart/form-data",
        },
    )
    assert response.status == 400
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_form_fields_share_the_body_limit(backend: Backend) -> None:
    async with app(backend, max_body_bytes=10_000) as api:
        # Each field alone is within the limit; together they are not.
        parts = [*upload_parts(), ("a", b"x" * 8_000, None), ("b", b"y" * 8_000, None)]
        status, body = await post_multipart(api, multipart(parts))
        assert status == 413, body
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        # Within the total, the same request goes through.
        parts = [*upload_parts(), ("a", b"x" * 4_000, None), ("b", b"y" * 4_000, None)]
        status, body = await post_multipart(api, multipart(parts))
        assert status == 200, body
        assert body["data"]["uploadAttachment"]["errors"] == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_the_whole_request_has_a_cap(backend: Backend, framing: str) -> None:
    settings = {
        "attachment_max_bytes": 2_000,
        "attachments_per_message": 2,
        "max_body_bytes": 4_000,
    }
    async with app(backend, **settings) as api:
        cap = 2 * 2_000 + 4_000 + 16 * 1024
        # Bytes no part counts (a preamble before the first boundary) still count for the request.
        filler = (b"p" * 1_000 + b"\r\n") * (cap // 1_000 + 10)
        content = multipart(upload_parts(), preamble=filler)

        async def streamed() -> AsyncIterator[bytes]:
            for start in range(0, len(content), 4_096):
                yield content[start : start + 4_096]

        status, body = await post_multipart(
            api, content if framing == "content-length" else streamed()
        )
        assert status == 413, body
        assert body["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
        assert str(cap) in body["errors"][0]["message"]
        assert incoming_files(backend) == []
        status, body = await post_multipart(api, multipart(upload_parts()))
        assert status == 200, body


async def test_left_overs_of_a_crashed_process_are_swept_at_start_up(backend: Backend) -> None:
    incoming = backend.data_dir / "incoming"
    dead = incoming / "p-crashed"
    dead.mkdir(parents=True, exist_ok=True)
    (dead / "half-an-upload").write_bytes(b"x" * 1_000)
    (incoming / "stray").write_bytes(b"y" * 1_000)
    async with app(backend) as api:
        assert not dead.exists()
        assert not (incoming / "stray").exists()
        # The running process's own directory is not swept by another one starting.
        from models.storage import LocalStorage

        status, body = await post_multipart(api, multipart(upload_parts()))
        assert status == 200, body
        mine = [p for p in incoming.iterdir() if p.is_dir()]
        LocalStorage(backend.data_dir).close()
        assert all(p.exists() for p in mine)


async def test_a_parallel_burst_never_exceeds_the_quota(backend: Backend) -> None:
    async with app(backend, attachment_quota_bytes=3_000) as api:
        results = await asyncio.gather(
            *(
                upload(api.client, "ann", b"q" * 900, f"{n}.txt", "text/plain", api=api)
                for n in range(10)
            )
        )
        stored = 0
        for status, body in results:
            assert status == 200, body
            payload = body["data"]["uploadAttachment"]
            if payload["attachment"] is not None:
                stored += payload["attachment"]["size"]
            else:
                assert [e["code"] for e in payload["errors"]] == ["ATTACHMENT_TOO_LARGE"]
        assert stored == 2_700  # three fit in 3,000 bytes, never more


async def test_image_decoding_runs_under_its_bound(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = attachments._check_image
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def watched(path: Path, max_pixels: int) -> str | None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(0.3)  # long enough for every upload of the burst to arrive meanwhile
            return real(path, max_pixels)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(attachments, "_check_image", watched)
    async with app(backend, image_decode_concurrency=2) as api:
        results = await asyncio.gather(
            *(upload(api.client, f"u{n}", png(), api=api) for n in range(6))
        )
        for status, body in results:
            assert status == 200 and body["data"]["uploadAttachment"]["errors"] == [], body
    assert state["most"] == 2


async def test_the_pixel_budget_is_a_setting(backend: Backend) -> None:
    async with app(backend, image_max_pixels=100) as api:
        status, body = await upload(api.client, "ann", png(16, 8), api=api)
        assert status == 200
        payload = body["data"]["uploadAttachment"]
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("ATTACHMENT_TOO_LARGE", "file")
        ]
        assert "100 pixels" in payload["errors"][0]["message"]
        status, body = await upload(api.client, "ann", png(10, 10), api=api)
        assert body["data"]["uploadAttachment"]["errors"] == []


async def test_a_trickled_body_gets_408(backend: Backend) -> None:
    async with app(backend, read_timeout=1) as api:
        client: TestClient = api.client
        reader, writer = await asyncio.open_connection(client.host, client.port)
        try:
            head = (
                "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n"
            )
            writer.write(head.encode() + b'{"query": "')
            await writer.drain()

            async def trickle() -> None:
                with contextlib.suppress(ConnectionError):
                    for _ in range(100):
                        writer.write(b"x")
                        await writer.drain()
                        await asyncio.sleep(0.2)

            sending = asyncio.create_task(trickle())
            try:
                # Without a body deadline the server waits for all 100,000 bytes: 20 s here.
                answer = await asyncio.wait_for(reader.readuntil(b"}]}"), timeout=10)
            finally:
                sending.cancel()
            assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
            assert b"REQUEST_TIMEOUT" in answer
        finally:
            writer.close()


async def test_trickled_headers_are_closed_by_the_real_server(
    backend: Backend, tmp_path: Path
) -> None:
    if backend.name != "embedded":
        pytest.skip("the server process's read timeout does not depend on the backend")
    server = await start_server(
        "slow-clients",
        backend,
        tmp_path / "server.log",
        HELPDESK_DATA_DIR=str(tmp_path / "data"),
        HELPDESK_READ_TIMEOUT="1",
    )
    port = server.port
    try:
        async with aiohttp.ClientSession() as session:
            await server.wait_healthy(session)
        connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]

        async def trickle(writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
                for n in range(200):
                    writer.write(f"X-Slow-{n}: 1\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.2)

        senders = [asyncio.create_task(trickle(writer)) for _, writer in connections]
        try:
            # Without a header deadline the server holds each connection for 75 s.
            closed = await asyncio.wait_for(
                asyncio.gather(*(reader.read() for reader, _ in connections)), timeout=15
            )
        finally:
            for sender in senders:
                sender.cancel()
            for _, writer in connections:
                writer.close()
        assert closed == [b""] * len(connections)  # closed without an answer
    finally:
        await stop(server.process)


@pytest.mark.parametrize("text", ["\u200b", "\u202e\u200b", "\ufeff \u200d\u2060\u3000"])
async def test_invisible_text_is_blank(api: Api, text: str) -> None:
    data = await api.gql(
        CREATE, {"input": {"categorySlug": "app-help", "question": text}}, as_="ann"
    )
    assert [(e["code"], e["field"]) for e in data["createTicket"]["errors"]] == [
        ("VALIDATION", "question")
    ]
    ticket = await create_ticket(api, "ann")
    data = await api.gql(REPLY, {"input": {"ticketId": ticket["id"], "body": text}}, as_="ann")
    assert [(e["code"], e["field"]) for e in data["replyToTicket"]["errors"]] == [
        ("VALIDATION", "body")
    ]


def test_is_blank() -> None:
    from services.validation import is_blank

    assert is_blank("\u200b\u202e\ufeff\t \u00a0")
    assert not is_blank("\u200bhi")
    assert not is_blank("日本")


def test_the_new_limits_are_read_from_the_environment() -> None:
    from server.config import ConfigError, Settings

    settings = Settings.from_env(
        {
            "HELPDESK_READ_TIMEOUT": "5",
            "HELPDESK_IMAGE_DECODE_CONCURRENCY": "3",
            "HELPDESK_IMAGE_MAX_PIXELS": "1000000",
        }
    )
    assert (settings.read_timeout, settings.image_decode_concurrency) == (5, 3)
    assert settings.image_max_pixels == 1_000_000
    for name in ("HELPDESK_READ_TIMEOUT", "HELPDESK_IMAGE_DECODE_CONCURRENCY"):
        with pytest.raises(ConfigError):
            Settings.from_env({name: "0"})
