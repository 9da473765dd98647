"""File storage for attachments: random names under a data directory, never a client's path."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class TooLarge(Exception):
    """The body went past the hard cap while it was being read."""


@dataclass(eq=False)
class IncomingFile:
    """An upload as received: streamed to a temporary file, or only measured when too large."""

    filename: str
    client_content_type: str | None
    size: int = 0
    path: Path | None = None
    too_large: bool = False
    adopted: bool = field(default=False)

    def head(self, length: int = 4096) -> bytes:
        if self.path is None:
            return b""
        with self.path.open("rb") as handle:
            return handle.read(length)

    def discard(self) -> None:
        if self.path is not None and not self.adopted:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.path = None


class Storage(Protocol):
    async def receive(
        self,
        chunks: AsyncIterator[bytes],
        *,
        filename: str,
        content_type: str | None,
        limit: int,
        hard_limit: int,
    ) -> IncomingFile: ...

    def adopt(self, incoming: IncomingFile) -> str: ...

    def path_of(self, key: str) -> Path: ...

    def delete(self, key: str) -> None: ...


class LocalStorage:
    """Files under `root/attachments`; uploads land in `root/incoming` until adopted."""

    def __init__(self, root: Path) -> None:
        self.files = root / "attachments"
        self.incoming = root / "incoming"
        self.files.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(parents=True, exist_ok=True)

    async def receive(
        self,
        chunks: AsyncIterator[bytes],
        *,
        filename: str,
        content_type: str | None,
        limit: int,
        hard_limit: int,
    ) -> IncomingFile:
        """Write the stream to disk while counting; past `limit` keep only the count, past
        `hard_limit` stop reading (TooLarge)."""
        incoming = IncomingFile(filename=filename, client_content_type=content_type)
        incoming.path = self.incoming / secrets.token_hex(16)
        handle = incoming.path.open("wb")
        try:
            async for chunk in chunks:
                incoming.size += len(chunk)
                if incoming.size > hard_limit:
                    raise TooLarge
                if incoming.size > limit:
                    if not incoming.too_large:
                        incoming.too_large = True
                        handle.close()
                        incoming.discard()
                    continue
                handle.write(chunk)
        except BaseException:
            handle.close()
            incoming.discard()
            raise
        handle.close()
        return incoming

    def adopt(self, incoming: IncomingFile) -> str:
        assert incoming.path is not None and not incoming.too_large
        key = secrets.token_hex(16)
        os.replace(incoming.path, self.files / key)
        incoming.adopted = True
        return key

    def path_of(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("invalid storage key")
        return self.files / key

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(key).unlink()
