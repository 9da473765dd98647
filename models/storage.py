"""File storage for attachments: random names under a data directory, never a client's path."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
import time
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
    """Files under `root/attachments`; uploads land in a directory of this process's own under
    `root/incoming` until adopted.

    The process holds an advisory lock (flock) on its incoming directory for as long as it runs;
    the kernel drops it when the process ends, however it ends. At start-up every incoming
    directory whose lock is free belongs to a process that is gone: what it holds is left over
    from a crash and is removed.
    """

    def __init__(self, root: Path) -> None:
        self.files = root / "attachments"
        self.files.mkdir(parents=True, exist_ok=True)
        incoming_root = root / "incoming"
        incoming_root.mkdir(parents=True, exist_ok=True)
        self.swept = sweep_incoming(incoming_root)
        self.incoming = Path(tempfile.mkdtemp(dir=incoming_root, prefix="p"))
        self._owner: int | None = os.open(self.incoming, os.O_RDONLY)
        fcntl.flock(self._owner, fcntl.LOCK_EX)  # waits only while a sweep looks at it

    def close(self) -> None:
        """Remove this process's incoming directory (files still in it are not adopted)."""
        if self._owner is None:
            return
        shutil.rmtree(self.incoming, ignore_errors=True)
        os.close(self._owner)
        self._owner = None

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


UNLOCKED_GRACE_SECONDS = 60  # a directory just made, whose owner has not locked it yet


def sweep_incoming(incoming_root: Path) -> int:
    """Remove what processes that are gone left in `incoming_root`; returns how many files."""
    removed = 0
    for entry in incoming_root.iterdir():
        if not entry.is_dir():
            removed += 1  # a file outside any process's directory belongs to no one
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
            continue
        try:
            handle = os.open(entry, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process is alive
            if time.time() - entry.stat().st_mtime < UNLOCKED_GRACE_SECONDS and not any(
                entry.iterdir()
            ):
                continue
            removed += sum(1 for path in entry.rglob("*") if path.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            os.close(handle)
    return removed
