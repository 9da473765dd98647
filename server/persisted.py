"""Automatic persisted queries (the Apollo APQ protocol).

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the query text; if
the hash is unknown the answer is PERSISTED_QUERY_NOT_FOUND and the client sends the text with the
hash once, which registers it. Each process keeps its own bounded LRU: a miss in another process
only costs the client that one extra round trip.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

HASH_FORMAT = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PersistedQueries:
    def __init__(self, size: int, max_chars: int) -> None:
        self.size = size
        self.max_chars = max_chars
        self._queries: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queries)

    def resolve(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The query text to run: the one given, or the one registered under the hash."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if self.size == 0:
            raise PersistedQueryError("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError(
                "Unsupported persisted query version: use version 1.", "PERSISTED_QUERY_INVALID"
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not HASH_FORMAT.fullmatch(digest):
            raise PersistedQueryError(
                "sha256Hash must be 64 lowercase hex digits.", "PERSISTED_QUERY_INVALID"
            )
        if query is None:
            found = self._queries.get(digest)
            if found is None:
                raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            self._queries.move_to_end(digest)
            return found
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError(
                "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH"
            )
        if len(query) <= self.max_chars:  # what the parser would refuse is never kept
            self._queries[digest] = query
            self._queries.move_to_end(digest)
            while len(self._queries) > self.size:
                self._queries.popitem(last=False)
        return query
