"""Attachments (screenshots, documents, logs): what may be uploaded, linked and downloaded.

The type is decided from the content, never from the client's name or header. Images must decode
(Pillow verifies them) and stay within a pixel budget, so corrupt files and decompression bombs are
refused; a bounded number decode at once, so decoding never holds more than
`image_decoders × image_max_pixels × 4` bytes. A refused upload leaves nothing stored. The quota
is checked in the transaction that stores the upload, under a lock per uploader, so parallel
uploads never get past it together.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image
from tortoise import connections
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from models import Attachment, AttachmentState
from models.rows import first_of_each
from models.storage import IncomingFile, Storage
from services import visibility
from services.errors import ErrorCode, UserInputError
from services.viewer import Viewer, require_viewer

IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    per_message: int = 10
    quota_bytes: int = 200 * 1024 * 1024
    unlinked_ttl: timedelta = timedelta(hours=24)
    image_max_pixels: int = 40_000_000
    image_decoders: int = 2
    decoding: asyncio.Semaphore = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoding", asyncio.Semaphore(self.image_decoders))


def sniff(head: bytes) -> str | None:
    """The content type the bytes themselves declare, among the allowed ones."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _is_text(path: Path) -> bool:
    data = path.read_bytes()
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f")
    return controls == 0


def _check_image(path: Path, max_pixels: int) -> str | None:
    """None when the image decodes within the pixel budget, else the reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                if image.width * image.height > max_pixels:
                    return "too_many_pixels"
                image.verify()
            with Image.open(path) as image:
                image.load()  # verify() skips pixel data; a truncated body fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return "too_many_pixels"
        except Exception:
            return "corrupt"
    return None


def safe_filename(name: str) -> str:
    """A display name only (storage never uses it): no path, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    return cleaned[:255] or "attachment"


# Russian letters in Latin as Russian passports spell them (ICAO Doc 9303); й and ё have lost
# their marks to NFKD by the time this applies.
_RUSSIAN = dict(
    zip(
        "абвгдежзиклмнопрстуфхцчшщъыьэюя",
        (
            *("a", "b", "v", "g", "d", "e", "zh", "z", "i", "k", "l", "m", "n", "o", "p"),
            *("r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e"),
            *("iu", "ia"),
        ),
        strict=True,
    )
)
_LATIN = str.maketrans(_RUSSIAN | {c.upper(): t.capitalize() for c, t in _RUSSIAN.items()})
# Not printable ASCII, or syntax to a quoted-string (quote, backslash), to a path (slashes, drive
# colons, wildcards), or to user agents that percent-decode or split parameters (%, ;).
_NOT_PLAIN = re.compile(r'[^ -~]|["\\/:*?<>|%;]')
MAX_EXTENSION = 16


def ascii_filename(name: str) -> str:
    """The display name in plain ASCII, for clients that read only `filename=` (RFC 6266 §4.3):
    accents dropped and Russian transliterated, anything else outside a safe name replaced by
    `_`, the extension kept; `attachment` (with the extension) when no letter or digit is left."""
    decomposed = unicodedata.normalize("NFKD", safe_filename(name))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_LATIN)
    stem, _, extension = plain.rpartition(".")
    extension = _plain(extension, " ._")
    if not stem or len(extension) > MAX_EXTENSION:  # no dot, or one that ends no extension
        stem, extension = plain, ""
    stem = _plain(stem[: 254 - len(extension)], " ._-")
    if not any(ch.isalnum() for ch in stem):
        stem = "attachment"
    return f"{stem}.{extension}" if extension else stem


def _plain(text: str, edges: str) -> str:
    return re.sub("_{2,}", "_", _NOT_PLAIN.sub("_", text)).strip(edges)


async def upload(
    *, viewer: Viewer | None, storage: Storage, limits: Limits, incoming: object
) -> Attachment:
    """Store an upload for the viewer if its content is an allowed, intact type within limits."""
    viewer = require_viewer(viewer)
    if not isinstance(incoming, IncomingFile):
        raise UserInputError(
            ErrorCode.VALIDATION,
            "Send the file as a GraphQL multipart request (multipart/form-data).",
            "file",
        )
    try:
        if incoming.too_large or incoming.size > limits.max_bytes:
            raise UserInputError(
                ErrorCode.ATTACHMENT_TOO_LARGE,
                f"Files are limited to {limits.max_bytes} bytes.",
                "file",
            )
        if incoming.size == 0 or incoming.path is None:
            raise UserInputError(ErrorCode.VALIDATION, "The file is empty.", "file")
        content_type = await _content_type(incoming.path, incoming.head(), limits)
        now = datetime.now(UTC)
        key = storage.adopt(incoming)
        try:
            async with in_transaction():
                await _lock_uploader(viewer.id)
                used = await _used_bytes(viewer)
                if used + incoming.size > limits.quota_bytes:
                    raise UserInputError(
                        ErrorCode.ATTACHMENT_TOO_LARGE,
                        f"Your attachments would exceed the quota of {limits.quota_bytes} bytes.",
                        "file",
                    )
                return await Attachment.create(
                    uploader_id=viewer.id,
                    filename=safe_filename(incoming.filename),
                    content_type=content_type,
                    size=incoming.size,
                    storage_key=key,
                    state=AttachmentState.UPLOADED,
                    created_at=now,
                    expires_at=now + limits.unlinked_ttl,
                )
        except BaseException:
            storage.delete(key)
            raise
    finally:
        incoming.discard()


async def _content_type(path: Path, head: bytes, limits: Limits) -> str:
    content_type = sniff(head)
    if content_type is None:
        if await asyncio.to_thread(_is_text, path):
            return "text/plain; charset=utf-8"
        raise UserInputError(
            ErrorCode.ATTACHMENT_TYPE_NOT_ALLOWED,
            "Allowed are PNG, JPEG, GIF and WebP images, PDF documents and plain text or logs.",
            "file",
        )
    if content_type in IMAGE_TYPES:
        async with limits.decoding:  # each decode holds the whole bitmap in memory
            problem = await asyncio.to_thread(_check_image, path, limits.image_max_pixels)
        if problem == "too_many_pixels":
            raise UserInputError(
                ErrorCode.ATTACHMENT_TOO_LARGE,
                f"Images are limited to {limits.image_max_pixels} pixels.",
                "file",
            )
        if problem is not None:
            raise UserInputError(ErrorCode.VALIDATION, "The image is damaged.", "file")
    return content_type


# Any constant shared by all processes: the first half of the per-uploader quota lock's key.
QUOTA_LOCK = 7_212_015


async def _lock_uploader(user_id: str) -> None:
    """Across processes: PostgreSQL's transaction-scoped advisory lock for this uploader, held
    until commit. SQLite runs one transaction at a time already."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", [QUOTA_LOCK, user_id]
        )


async def _used_bytes(viewer: Viewer) -> int:
    rows = (
        await Attachment.filter(uploader_id=viewer.id).annotate(total=Sum("size")).values("total")
    )
    return int(rows[0]["total"] or 0) if rows else 0


async def link(
    *,
    viewer: Viewer,
    ids: Sequence[int],
    ticket_id: int,
    message_id: int | None,
    limits: Limits,
) -> list[Attachment]:
    """Attach the viewer's own unlinked uploads; call inside the writing transaction."""
    unique = list(dict.fromkeys(ids))
    if len(unique) > limits.per_message:
        raise UserInputError(
            ErrorCode.VALIDATION,
            f"At most {limits.per_message} attachments per message.",
            "attachmentIds",
        )
    if not unique:
        return []
    now = datetime.now(UTC)
    linked = await Attachment.filter(
        id__in=unique,
        uploader_id=viewer.id,
        state=AttachmentState.UPLOADED,
        expires_at__gt=now,
    ).update(
        state=AttachmentState.LINKED, ticket_id=ticket_id, message_id=message_id, expires_at=None
    )
    if linked != len(unique):
        raise UserInputError(
            ErrorCode.NOT_FOUND,
            "Attach only your own uploads that are not yet attached or expired.",
            "attachmentIds",
        )
    return await Attachment.filter(id__in=unique).order_by("id")


async def purge_expired(*, storage: Storage, now: datetime | None = None) -> int:
    """Delete uploads never attached before they expired; returns how many."""
    moment = now or datetime.now(UTC)
    expired = await Attachment.filter(state=AttachmentState.UPLOADED, expires_at__lte=moment)
    for attachment in expired:
        deleted = await Attachment.filter(id=attachment.id, state=AttachmentState.UPLOADED).delete()
        if deleted:
            storage.delete(attachment.storage_key)
    return len(expired)


async def get_visible(*, viewer: Viewer | None, attachment_id: int) -> Attachment | None:
    """The attachment if the viewer may download it: the uploader while unattached, then
    whoever sees the ticket (internal notes' files: staff only)."""
    viewer = require_viewer(viewer)
    return await visibility.attachments(viewer).get_or_none(id=attachment_id)


async def get_visible_many(*, viewer: Viewer, ids: Sequence[int]) -> dict[int, Attachment]:
    """The attachments of `ids` the viewer may download (the same rule as `get_visible`)."""
    query = visibility.attachments(viewer).filter(id__in=list(set(ids)))
    return {a.id: a for a in await query}


async def of_tickets(*, ticket_ids: Sequence[int], limit: int) -> dict[int, list[Attachment]]:
    """Files attached to the tickets themselves (at creation), oldest first, `limit` each."""
    grouped: dict[int, list[Attachment]] = {tid: [] for tid in ticket_ids}
    query = Attachment.filter(ticket_id__in=list(grouped), message_id__isnull=True)
    for attachment in await first_of_each(query, group="ticket_id", limit=limit):
        grouped[attachment.ticket_id or 0].append(attachment)
    return grouped


async def of_messages(*, message_ids: Sequence[int], limit: int) -> dict[int, list[Attachment]]:
    """Files attached to each message, oldest first, `limit` each."""
    grouped: dict[int, list[Attachment]] = {mid: [] for mid in message_ids}
    query = Attachment.filter(message_id__in=list(grouped))
    for attachment in await first_of_each(query, group="message_id", limit=limit):
        grouped[attachment.message_id or 0].append(attachment)
    return grouped
