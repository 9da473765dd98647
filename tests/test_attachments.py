"""Attachments through the GraphQL multipart endpoint and GET /attachments/{id}."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import struct
import urllib.parse
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from server.app import create_app
from tests.conftest import IN_CI, Api, Backend, _empty_tables
from tests.fixtures import CREATE, REPLY, create_ticket, missing_id, row_key

UPLOAD = """mutation($f: Upload!) { uploadAttachment(input: {file: $f}) {
  attachment { id filename contentType size state url } errors { code field message } } }"""


def png(width: int = 16, height: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bomb() -> bytes:
    """A tiny PNG whose header claims 100,000 × 100,000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


async def upload(
    client: TestClient,
    as_: str,
    content: bytes,
    filename: str = "shot.png",
    content_type: str = "image/png",
    role: str = "customer",
    api: Api | None = None,
) -> tuple[int, dict[str, Any]]:
    form = aiohttp.FormData(quote_fields=False)  # names in UTF-8, as browsers and curl send them
    form.add_field("operations", '{"query": %s, "variables": {"f": null}}' % _json(UPLOAD))
    form.add_field("map", '{"0": ["variables.f"]}')
    form.add_field("0", content, filename=filename, content_type=content_type)
    token = (api or Api(client)).token(as_, role)
    response = await client.post(
        "/graphql", data=form, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status, await response.json()


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def stored_files(backend: Backend) -> list[Path]:
    return sorted(p for p in backend.data_dir.rglob("*") if p.is_file())


async def uploaded(api: Api, as_: str, content: bytes, **kwargs: Any) -> dict[str, Any]:
    status, body = await upload(api.client, as_, content, api=api, **kwargs)
    assert status == 200, body
    payload = body["data"]["uploadAttachment"]
    assert payload["errors"] == [], payload
    return payload["attachment"]


async def download(api: Api, attachment_id: str, as_: str | None, role: str = "customer"):
    headers = {} if as_ is None else {"Authorization": f"Bearer {api.token(as_, role)}"}
    return await api.client.get(f"/attachments/{attachment_id}", headers=headers)


async def test_png_and_pdf_upload_link_and_download(api: Api, backend: Backend) -> None:
    image, document = png(), pdf()
    shot = await uploaded(api, "ann", image)
    assert shot["contentType"] == "image/png" and shot["size"] == len(image)
    assert shot["state"] == "UPLOADED" and shot["url"] == f"/attachments/{shot['id']}"
    doc = await uploaded(
        api, "ann", document, filename="invoice.pdf", content_type="application/pdf"
    )
    assert doc["contentType"] == "application/pdf"

    ticket = await create_ticket(api, "ann", attachmentIds=[shot["id"]])
    reply = await api.gql(
        REPLY,
        {"input": {"ticketId": ticket["id"], "body": "invoice", "attachmentIds": [doc["id"]]}},
        as_="ann",
    )
    assert reply["replyToTicket"]["errors"] == []
    seen = await api.gql(
        "query($id: ID!) { ticket(id: $id) { attachments { id state } "
        "messages { attachments { id filename contentType } } } }",
        {"id": ticket["id"]},
        as_="agent-1",
        role="agent",
    )
    assert seen["ticket"]["attachments"] == [{"id": shot["id"], "state": "LINKED"}]
    assert seen["ticket"]["messages"][0]["attachments"] == [
        {"id": doc["id"], "filename": "invoice.pdf", "contentType": "application/pdf"}
    ]
    for who, role in (("ann", "customer"), ("agent-1", "agent")):
        response = await download(api, shot["id"], who, role)
        assert response.status == 200
        assert await response.read() == image
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment;")
    assert (await download(api, shot["id"], "bob")).status == 404
    assert (await download(api, doc["id"], "bob")).status == 404
    assert (await download(api, shot["id"], None)).status == 401
    assert (await download(api, missing_id("Attachment"), "ann")).status == 404
    assert (await download(api, str(row_key(shot["id"])), "ann")).status == 404  # not an id
    ticket_id = (await create_ticket(api, "ann"))["id"]
    assert (await download(api, ticket_id, "ann")).status == 404  # an id of another type
    assert (await download(api, "../etc", "ann")).status == 404


# filename: plain ASCII in a quoted-string, no quote, backslash, slash or `;`.
# filename*: RFC 8187 UTF-8, percent-encoded.
DISPOSITION = re.compile(
    r"attachment; filename=\"([ !#$&-.0-:<-\[\]-~]+)\"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)"
)


def disposition_names(header: str) -> tuple[str, str]:
    """(the ASCII fallback, the exact name) of a download's Content-Disposition."""
    found = DISPOSITION.fullmatch(header)
    assert found, header
    return found[1], urllib.parse.unquote(found[2], errors="strict")


@pytest.mark.parametrize(
    ("given", "fallback"),
    [
        ("скриншот ошибки.png", "skrinshot oshibki.png"),
        ("Отчёт за май.png", "Otchet za mai.png"),
        ("🔥 crash 💥.png", "crash.png"),
        ("📸.png", "attachment.png"),
        ('say "hi".png', "say _hi.png"),
        ("plan; 100% done.png", "plan_ 100_ done.png"),
    ],
    ids=["cyrillic", "cyrillic-marks", "emoji", "nothing-ascii", "quotes", "semicolon-percent"],
)
async def test_download_names_the_file_in_ascii_and_exactly(
    api: Api, given: str, fallback: str
) -> None:
    shot = await uploaded(api, "ann", png(), filename=given)
    assert shot["filename"] == given
    response = await download(api, shot["id"], "ann")
    assert response.status == 200
    assert disposition_names(response.headers["Content-Disposition"]) == (fallback, given)


async def test_curl_saves_a_download_under_its_name(api: Api, tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        if IN_CI:
            pytest.fail("curl is needed to download as a client would")
        pytest.skip("curl not installed")
    image = png()
    shot = await uploaded(api, "ann", image, filename="скриншот ошибки.png")
    url = str(api.client.make_url(f"/attachments/{shot['id']}"))
    token = api.token("ann")
    # -O names the file after the URL (the id); -J takes the name the server gives instead.
    process = await asyncio.create_subprocess_exec(
        *(curl, "--silent", "--show-error", "--fail", "--remote-name", "--remote-header-name"),
        *("--header", f"Authorization: Bearer {token}", url),
        cwd=tmp_path,
    )
    assert await process.wait() == 0
    saved = await asyncio.to_thread(lambda: {p.name: p.read_bytes() for p in tmp_path.iterdir()})
    assert saved in ({"skrinshot oshibki.png": image}, {"скриншот ошибки.png": image}), saved


async def test_unattached_upload_is_only_the_uploaders(api: Api) -> None:
    shot = await uploaded(api, "ann", png())
    assert (await download(api, shot["id"], "ann")).status == 200
    assert (await download(api, shot["id"], "agent-1", "agent")).status == 404
    data = await api.gql(
        CREATE,
        {"input": {"categorySlug": "app-help", "question": "mine?", "attachmentIds": [shot["id"]]}},
        as_="bob",
    )
    assert [(e["code"], e["field"]) for e in data["createTicket"]["errors"]] == [
        ("NOT_FOUND", "attachmentIds")
    ]
    listed = await api.gql("{ tickets { totalCount } }", as_="bob")
    assert listed["tickets"]["totalCount"] == 0


async def test_an_upload_links_once(api: Api) -> None:
    shot = await uploaded(api, "ann", png())
    await create_ticket(api, "ann", attachmentIds=[shot["id"]])
    again = await api.gql(
        CREATE,
        {"input": {"categorySlug": "app-help", "question": "twice", "attachmentIds": [shot["id"]]}},
        as_="ann",
    )
    assert [e["code"] for e in again["createTicket"]["errors"]] == ["NOT_FOUND"]


async def test_internal_note_files_are_hidden_from_the_customer(api: Api) -> None:
    ticket = await create_ticket(api, "ann")
    log = await uploaded(
        api,
        "agent-1",
        b"2026-11-27 ERROR timeout\n",
        filename="srv.log",
        content_type="text/plain",
        role="agent",
    )
    assert log["contentType"] == "text/plain; charset=utf-8"
    note = {"ticketId": ticket["id"], "body": "log", "internal": True, "attachmentIds": [log["id"]]}
    await api.gql(REPLY, {"input": note}, as_="agent-1", role="agent")
    assert (await download(api, log["id"], "ann")).status == 404
    assert (await download(api, log["id"], "agent-2", "agent")).status == 200


@pytest.mark.parametrize(
    ("content", "filename", "content_type", "code"),
    [
        (b"MZ\x90\x00\x03" + b"\x00" * 200, "cat.png", "image/png", "ATTACHMENT_TYPE_NOT_ALLOWED"),
        (
            b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
            "run.txt",
            "text/plain",
            "ATTACHMENT_TYPE_NOT_ALLOWED",
        ),
        (b"<svg onload=alert(1)>\x00", "x.svg", "image/svg+xml", "ATTACHMENT_TYPE_NOT_ALLOWED"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "broken.png", "image/png", "VALIDATION"),
        (png()[:60], "truncated.png", "image/png", "VALIDATION"),
        (png_bomb(), "bomb.png", "image/png", "ATTACHMENT_TOO_LARGE"),
        (b"", "empty.txt", "text/plain", "VALIDATION"),
    ],
)
async def test_bad_files_are_refused_and_leave_nothing(
    api: Api, backend: Backend, content: bytes, filename: str, content_type: str, code: str
) -> None:
    before = stored_files(backend)
    status, body = await upload(api.client, "ann", content, filename, content_type, api=api)
    assert status == 200, body
    payload = body["data"]["uploadAttachment"]
    assert payload["attachment"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "file")]
    assert stored_files(backend) == before


async def test_client_filename_is_display_only(api: Api, backend: Backend) -> None:
    shot = await uploaded(api, "ann", png(), filename="../../etc/passwd.png")
    assert "/" not in shot["filename"] and shot["filename"].endswith("passwd.png")
    names = [p.name for p in stored_files(backend)]
    assert all("passwd" not in name for name in names)


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("C:\\Users\\me\\shot.png", "shot.png"),
        ("re\x00port\x1b.pdf", "report.pdf"),
        ("...", "attachment"),
        ("скриншот ошибки.png", "скриншот ошибки.png"),
    ],
)
def test_safe_filename(given: str, shown: str) -> None:
    from services.attachments import safe_filename

    assert safe_filename(given) == shown


async def test_upload_needs_multipart(api: Api) -> None:
    data = await api.gql(UPLOAD, {"f": "not a file"}, as_="ann")
    assert [e["code"] for e in data["uploadAttachment"]["errors"]] == ["VALIDATION"]


async def test_upload_needs_a_token(api: Api) -> None:
    form = aiohttp.FormData()
    form.add_field("operations", '{"query": %s, "variables": {"f": null}}' % _json(UPLOAD))
    form.add_field("map", '{"0": ["variables.f"]}')
    form.add_field("0", png(), filename="a.png", content_type="image/png")
    response = await api.client.post("/graphql", data=form)
    body = await response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.fixture
async def small_limits(backend: Backend) -> AsyncIterator[Api]:
    settings = backend.settings(
        attachment_max_bytes=2_000, attachment_quota_bytes=3_000, attachments_per_message=2
    )
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        await _empty_tables()
        yield Api(client)
    finally:
        await client.close()


async def test_size_limit_while_reading(small_limits: Api, backend: Backend) -> None:
    api = small_limits
    before = stored_files(backend)
    status, body = await upload(api.client, "ann", b"a" * 3_000, "big.txt", "text/plain", api=api)
    assert status == 200
    assert [e["code"] for e in body["data"]["uploadAttachment"]["errors"]] == [
        "ATTACHMENT_TOO_LARGE"
    ]
    status, body = await upload(api.client, "ann", b"a" * 9_000, "huge.txt", "text/plain", api=api)
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "ATTACHMENT_TOO_LARGE"
    assert stored_files(backend) == before


async def test_quota_and_files_per_message(small_limits: Api) -> None:
    api = small_limits
    first = await uploaded(api, "ann", b"x" * 1_500, filename="1.txt", content_type="text/plain")
    second = await uploaded(api, "ann", b"y" * 1_400, filename="2.txt", content_type="text/plain")
    _, body = await upload(api.client, "ann", b"z" * 500, "3.txt", "text/plain", api=api)
    assert [e["code"] for e in body["data"]["uploadAttachment"]["errors"]] == [
        "ATTACHMENT_TOO_LARGE"
    ]
    third = await uploaded(api, "bob", b"z" * 10, filename="b.txt", content_type="text/plain")
    ids = [first["id"], second["id"], third["id"]]
    data = await api.gql(
        CREATE,
        {"input": {"categorySlug": "app-help", "question": "3", "attachmentIds": ids}},
        as_="ann",
    )
    assert [(e["code"], e["field"]) for e in data["createTicket"]["errors"]] == [
        ("VALIDATION", "attachmentIds")
    ]


async def test_unattached_uploads_expire(api: Api, backend: Backend) -> None:
    from models import Attachment
    from models.storage import LocalStorage
    from services.attachments import purge_expired

    shot = await uploaded(api, "ann", png())
    kept = await uploaded(api, "ann", png(4, 4))
    await create_ticket(api, "ann", attachmentIds=[kept["id"]])
    files = stored_files(backend)
    await Attachment.filter(id=row_key(shot["id"])).update(
        expires_at=datetime.now(UTC) - timedelta(1)
    )
    await Attachment.filter(id=row_key(kept["id"])).update(
        expires_at=datetime.now(UTC) - timedelta(1)
    )
    assert await purge_expired(storage=LocalStorage(backend.data_dir)) == 1
    assert (await download(api, shot["id"], "ann")).status == 404
    assert (await download(api, kept["id"], "ann")).status == 200
    assert len(stored_files(backend)) == len(files) - 1
