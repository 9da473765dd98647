"""Property-based fuzzing from the schema: valid and invalid operations never make the server fail.

hypothesis-graphql generates operations for every root type, both valid ones (POSITIVE) and ones
with exactly one schema violation (NEGATIVE). Queries and mutations go over HTTP as anonymous,
customer, agent and admin callers; subscriptions go over WebSocket while events happen. No
response may be a 5xx, and no error may be the masked "Internal server error".

HELPDESK_FUZZ_EXAMPLES sets the operations per root type: 2,000 under CI, 300 otherwise. The
operations are generated once per run (in worker processes) and replayed on every backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from datetime import UTC
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import IN_CI, REPO, Api
from tests.fixtures import create_ticket
from tests.ws import connect

EXAMPLES = int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "2000" if IN_CI else "300"))
NEGATIVE_SHARE = 0.25
ROLES = [None, "customer", "agent", "admin"]


def _strategy(root: str, negative: bool) -> Any:
    import hypothesis_graphql as hg

    sdl = (REPO / "schema.graphql").read_text(encoding="utf-8")
    scalars = {
        "DateTime": st.datetimes(timezones=st.just(UTC)).map(
            lambda moment: graphql.StringValueNode(value=moment.isoformat())
        ),
        "Upload": st.just(graphql.NullValueNode()),
    }
    mode = hg.Mode.NEGATIVE if negative else hg.Mode.POSITIVE
    if root == "mutation":
        return hg.mutations(sdl, custom_scalars=scalars, mode=mode)
    if root == "query":
        return hg.queries(sdl, custom_scalars=scalars, mode=mode)
    # Subscriptions: generate against the subscription root as if it were the query root,
    # then print the operation as a subscription.
    schema = graphql.build_schema(sdl)
    as_query = graphql.GraphQLSchema(
        query=schema.subscription_type, types=list(schema.type_map.values())
    )

    def print_subscription(document: graphql.DocumentNode) -> str:
        printed = graphql.print_ast(document)
        return "subscription " + printed if printed.startswith("{") else printed

    return hg.queries(as_query, custom_scalars=scalars, mode=mode, print_ast=print_subscription)


def generate(root: str, negative: bool, count: int) -> list[str]:
    found: list[str] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(_strategy(root, negative))
    def collect(operation: str) -> None:
        found.append(operation)

    collect()
    return found


@pytest.fixture(scope="session")
def operations() -> dict[str, list[str]]:
    negative = int(EXAMPLES * NEGATIVE_SHARE)
    jobs = {
        (root, is_negative): count
        for root in ("query", "mutation", "subscription")
        for is_negative, count in ((False, EXAMPLES - negative), (True, negative))
    }
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = {job: pool.submit(generate, job[0], job[1], count) for job, count in jobs.items()}
        results = {job: future.result() for job, future in futures.items()}
    return {
        root: results[(root, False)] + results[(root, True)]
        for root in ("query", "mutation", "subscription")
    }


def _internal(body: Any) -> list[Any]:
    items = body if isinstance(body, list) else [body]
    return [
        error
        for item in items
        if isinstance(item, dict)
        for error in item.get("errors") or ()
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR"
    ]


async def _fire(api: Api, operations: list[str]) -> list[tuple[str, int, Any]]:
    failures: list[tuple[str, int, Any]] = []
    tokens = {role: api.token(f"fuzz-{role}", role) if role else None for role in ROLES}

    async def one(index: int, operation: str) -> None:
        token = tokens[ROLES[index % len(ROLES)]]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await api.client.post("/graphql", json={"query": operation}, headers=headers)
        body = await response.json(content_type=None)
        if response.status >= 500 or _internal(body):
            failures.append((operation, response.status, body))

    for start in range(0, len(operations), 16):
        chunk = operations[start : start + 16]
        await asyncio.gather(*(one(start + i, op) for i, op in enumerate(chunk)))
    return failures


def _assert_enough(generated: list[str]) -> None:
    # Hypothesis may repeat an operation; nearly all must be distinct to count as a real run.
    assert len(set(generated)) >= 0.8 * EXAMPLES, (len(set(generated)), EXAMPLES)


async def test_fuzzed_queries_never_fail_the_server(
    api: Api, operations: dict[str, list[str]]
) -> None:
    await create_ticket(api, as_="fuzz-customer")
    _assert_enough(operations["query"])
    failures = await _fire(api, operations["query"])
    assert not failures, failures[:3]


async def test_fuzzed_mutations_never_fail_the_server(
    api: Api, operations: dict[str, list[str]]
) -> None:
    await create_ticket(api, as_="fuzz-customer")
    _assert_enough(operations["mutation"])
    failures = await _fire(api, operations["mutation"])
    assert not failures, failures[:3]


async def test_fuzzed_subscriptions_never_fail_the_server(
    api: Api, operations: dict[str, list[str]]
) -> None:
    generated = operations["subscription"]
    _assert_enough(generated)
    failures: list[Any] = []
    for role in ROLES:
        share = generated[ROLES.index(role) :: len(ROLES)]
        payload = {"token": api.token(f"fuzz-{role}", role)} if role else {}
        socket = await connect(api.client, payload)
        try:
            for start in range(0, len(share), 50):
                chunk = share[start : start + 50]
                ids = [await socket.subscribe(operation) for operation in chunk]
                # Events happen while they are subscribed: a new ticket, then a status change.
                ticket = await create_ticket(api, as_="fuzz-customer")
                await api.gql(
                    "mutation($i: TakeTicketInput!) { takeTicket(input: $i) { errors { code } } }",
                    {"i": {"ticketId": ticket["id"]}},
                    as_="fuzz-agent",
                    role="agent",
                )
                failures += await _drain(socket, dict(zip(ids, chunk, strict=True)))
                for op_id in ids:
                    await socket.ws.send_json({"id": op_id, "type": "complete"})
                if socket.ws.closed:
                    failures.append(("closed", socket.ws.close_code, chunk))
                    break
        finally:
            await socket.close()
    assert not failures, failures[:3]


async def _drain(socket: Any, operations: dict[str, str]) -> list[Any]:
    failures = []
    while True:
        try:
            message = await socket.receive(within=0.3)
        except TimeoutError:
            return failures
        if message["type"] == "closed":
            if message["code"] not in (4400,):  # 4400: a document that does not parse
                failures.append(("closed", message["code"], list(operations.values())))
            return failures
        payload = message.get("payload")
        errors = payload if message["type"] == "error" else (payload or {}).get("errors")
        if _internal({"errors": errors or []}):
            failures.append((operations.get(message.get("id", ""), "?"), message))
