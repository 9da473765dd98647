"""A request's objects are freed by reference counting when it ends, not by the cycle collector:
under load, collections of a heap full of finished requests stalled the server for 400+ ms.
(Two things still do: parsing and validating a document the caches have not seen yet, in
graphql-core's visitors, once per distinct document; and an error raised in a resolver, whose
traceback holds the frames that hold it.)"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import Api
from tests.fixtures import create_ticket

OURS = ("resolvers.", "schema.", "server.", "services.", "models.", "strawberry.", "graphql.")
PAGE = """{ tickets(first: 5) { edges { node {
  number summary status urgent createdAt category { slug name } owner { id name } } } } }"""


@contextmanager
def saved_garbage() -> Iterator[list[object]]:
    """What the cycle collector finds of what runs inside (kept instead of freed)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
        gc.collect()
    finally:
        gc.set_debug(0)


async def requests(api: Api) -> None:
    await api.gql(PAGE, as_="ann")
    await api.gql(PAGE, as_="agent-1", role="agent")
    await api.post('{ ticket(id: "1") { id nope } }', as_="ann")  # a validation error


async def test_requests_leave_no_reference_cycles(api: Api) -> None:
    await create_ticket(api, "ann")
    await requests(api)  # each document parsed and validated once
    with saved_garbage() as garbage:
        for _ in range(5):
            await requests(api)
    cyclic = Counter(
        f"{type(o).__module__}.{type(o).__qualname__}"
        for o in garbage
        if type(o).__module__.startswith(OURS)
    )
    gc.garbage.clear()
    assert not cyclic, cyclic.most_common(10)
