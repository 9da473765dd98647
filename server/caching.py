"""HTTP caching of the GraphQL endpoint's answers: which ones a cache may keep, and revalidation.

One kind of answer is cacheable: a GET query sent without credentials whose root fields are all
public (`schema.metadata.public_root_fields`: the same for everyone, token or not), answered
without errors. It is `Cache-Control: public, max-age=N` (`HELPDESK_PUBLIC_MAX_AGE`) with a
strong ETag over its media type and body; a request whose If-None-Match names that ETag gets
304 without a body. Persisted queries sent by hash count as the query they stand for.

Every other answer is `no-store`: `private, no-store` to a request with credentials, whatever
it asked. Every answer varies by Accept (the media type is negotiated) and Authorization.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson
from aiohttp import web
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_operation_ast,
    parse,
)

from server.persisted import PersistedQueries, PersistedQueryError

NO_STORE = "no-store"
PRIVATE = "private, no-store"
VARY = ("Accept", "Authorization")
JSON_TYPES = frozenset({"application/json", "application/graphql-response+json"})


def vary(headers: MutableMapping[str, str], *names: str) -> None:
    """Add names to the Vary header, keeping those already there."""
    present = [name.strip() for name in headers.get("Vary", "").split(",") if name.strip()]
    known = {name.lower() for name in present}
    headers["Vary"] = ", ".join(present + [n for n in names if n.lower() not in known])


def uncacheable(request: web.Request) -> str:
    """The Cache-Control of any answer that no cache may keep."""
    return PRIVATE if "Authorization" in request.headers else NO_STORE


class HttpCaching:
    """The caching headers of one app's GraphQL endpoint (`path`)."""

    def __init__(
        self,
        *,
        path: str,
        public_fields: frozenset[str],
        max_age: int,
        persisted: PersistedQueries,
        cache_size: int = 256,
    ) -> None:
        self.path = path
        self.public_fields = public_fields
        self.max_age = max_age
        self.persisted = persisted
        self.reads_public = functools.lru_cache(maxsize=cache_size)(self._reads_public)

    def answer(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """The response with its caching headers, or a 304 in its place (GraphQL answers only;
        a response already sent, such as a WebSocket, is left as it is)."""
        route = request.match_info.route.resource
        if response.prepared or route is None or route.canonical != self.path:
            return response
        vary(response.headers, *VARY)
        body = self._public_body(request, response)
        if body is None:
            response.headers["Cache-Control"] = uncacheable(request)
            return response
        digest = hashlib.blake2b(response.content_type.encode(), digest_size=16)
        digest.update(b"\0" + body)
        tag = digest.hexdigest()
        etag = f'"{tag}"'
        headers = {
            "Cache-Control": f"public, max-age={self.max_age}",
            "ETag": etag,
            "Vary": response.headers["Vary"],
        }
        response.headers.update(headers)
        given = request.if_none_match or ()
        if any(given_tag.value in (tag, "*") for given_tag in given):
            return web.Response(status=304, headers=headers)
        return response

    def _public_body(self, request: web.Request, response: web.StreamResponse) -> bytes | None:
        """The body, when the answer is one that any cache may keep."""
        if (
            request.method != "GET"
            or "Authorization" in request.headers
            or response.status != 200
            or not isinstance(response, web.Response)
            or not isinstance(response.body, bytes)
            or response.content_type not in JSON_TYPES
        ):
            return None
        params = request.query
        try:
            extensions = orjson.loads(params["extensions"]) if "extensions" in params else None
            query = self.persisted.resolve(params.get("query"), extensions)
        except (orjson.JSONDecodeError, PersistedQueryError, AttributeError, TypeError):
            return None
        if not query or not self.reads_public(query, params.get("operationName")):
            return None
        answer = orjson.loads(response.body)
        if not isinstance(answer, dict) or "errors" in answer or answer.get("data") is None:
            return None
        return response.body

    def _reads_public(self, query: str, operation_name: str | None) -> bool:
        """Whether the operation is a query of public root fields only."""
        try:
            document = parse(query, no_location=True)
        except GraphQLError:
            return False
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return False
        fields = _root_fields(operation.selection_set, _fragments(document), set())
        return all(name in self.public_fields for name in fields)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, Any], seen: set[str]
) -> Iterator[str]:
    """The names of the fields a selection set selects at its own level, fragments expanded
    (an unknown or cyclic fragment yields a name no field has)."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen or name not in fragments:
                yield ""
                continue
            seen.add(name)
            yield from _root_fields(fragments[name].selection_set, fragments, seen)
            seen.discard(name)
