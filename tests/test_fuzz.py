"""Property-based fuzzing from the schema: valid and invalid operations never make the server fail.

hypothesis-graphql generates operations for every root type, both valid ones (POSITIVE) and ones
with exactly one schema violation (NEGATIVE). Queries and mutations go over HTTP as anonymous,
customer, agent and admin callers; subscriptions go over WebSocket while events happen. No
response may be a 5xx, and no error may be the masked "Internal server error".

Valid operations carry hostile values in every argument of every field: strings of every Unicode
category, strings just over each column's length, NUL, numbers beyond a BIGINT (as strings and as
ID literals), Int arguments at their extremes, and cursors that are malformed base64 or
well-formed base64 around values of every JSON type. Known slugs and small ids are mixed in so
that operations also reach the rules behind the checks. Signed tokens with claims of every type
are fuzzed the same way: 200 or a JSON 401, nothing else.

HELPDESK_FUZZ_EXAMPLES sets the operations per root type: 2,000 under CI, 300 otherwise, plus 20
for each root field that takes arguments. The operations are generated once per run (in worker
processes) and replayed on every backend.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import multiprocessing
import operator
import os
import time
from datetime import UTC
from typing import Any, TypeVar

import graphql
import jwt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import IN_CI, REPO, TEST_SECRET, Api
from tests.fixtures import create_ticket
from tests.ws import connect

EXAMPLES = int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "2000" if IN_CI else "300"))
NEGATIVE_SHARE = 0.25
PER_FIELD = 20
ROLES = [None, "customer", "agent", "admin"]
T = TypeVar("T")

# The first test of a run also generates the operations (about a minute for CI's count on two
# quiet cores, several on a busy machine): more than the suite's per-test bound.
pytestmark = pytest.mark.timeout(900)


# Lengths around every limit: slugs (64), user ids (128), search and summary (200), file names.
BOUNDARY_LENGTHS = (0, 1, 63, 64, 65, 127, 128, 129, 199, 200, 201, 255, 256, 1000)
# Around the Int, double and BIGINT ranges, and far beyond.
BIG_NUMBERS = (2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30)
KNOWN = ("app-help", "metric-billing", "documents", "1", "2", "3", "fuzz-customer", "fuzz-agent")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def hostile_text() -> st.SearchStrategy[str]:
    """Text a client could send. Lone surrogates are left out: neither a GraphQL document nor
    the JSON around it can carry one (the parser refuses the request first)."""
    every_category = st.text(st.characters(codec="utf-8"), max_size=40)
    long_runs = st.builds(
        operator.mul, st.characters(codec="utf-8"), st.sampled_from(BOUNDARY_LENGTHS)
    )
    with_nul = st.builds(lambda a, b: f"{a}\x00{b}", every_category, every_category)
    numbers = st.one_of(st.sampled_from(BIG_NUMBERS), st.integers()).flatmap(
        lambda n: st.sampled_from([str(n), str(-n), f"{n}.0", f" {n}"])
    )
    return st.one_of(
        st.sampled_from(KNOWN), every_category, long_runs, with_nul, numbers, hostile_cursor()
    )


def hostile_cursor() -> st.SearchStrategy[str]:
    """Cursors as pagination writes them, around values of every JSON type, and broken ones."""
    json_values: st.SearchStrategy[Any] = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(BIG_NUMBERS).flatmap(lambda n: st.sampled_from([n, -n, -n - 1])),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
        st.lists(st.integers(), max_size=3),
    )
    well_formed = st.lists(json_values, min_size=1, max_size=3).map(
        lambda items: _b64(json.dumps(items).encode())
    )
    return st.one_of(
        well_formed,
        st.binary(max_size=60).map(_b64),
        well_formed.flatmap(
            lambda cursor: st.sampled_from([cursor[:-3], cursor + "!", cursor.rstrip("=")])
        ),
    )


def hostile_scalars() -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Value nodes for every scalar: each still valid for its type (POSITIVE operations stay
    valid), chosen to probe the bounds behind it."""
    text = hostile_text()
    int32 = st.one_of(
        st.sampled_from([-(2**31), -1, 0, 1, 100, 101, 2**31 - 1]),
        st.integers(min_value=-(2**31), max_value=2**31 - 1),
    )
    id_literals = st.one_of(st.sampled_from(BIG_NUMBERS), st.integers()).map(
        lambda n: graphql.IntValueNode(value=str(n))
    )
    return {
        "String": text.map(lambda t: graphql.StringValueNode(value=t)),
        "ID": st.one_of(text.map(lambda t: graphql.StringValueNode(value=t)), id_literals),
        "Int": int32.map(lambda n: graphql.IntValueNode(value=str(n))),
        "DateTime": st.one_of(
            st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
            st.sampled_from(["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+14:00"]),
            text,
        ).map(lambda value: graphql.StringValueNode(value=value)),
        "Upload": st.just(graphql.NullValueNode()),
    }


def _strategy(root: str, negative: bool, field: str | None = None) -> Any:
    import hypothesis_graphql as hg

    sdl = (REPO / "schema.graphql").read_text(encoding="utf-8")
    scalars = hostile_scalars()
    mode = hg.Mode.NEGATIVE if negative else hg.Mode.POSITIVE
    fields = None if field is None else [field]
    if root == "mutation":
        return hg.mutations(sdl, fields=fields, custom_scalars=scalars, mode=mode)
    if root == "query":
        return hg.queries(sdl, fields=fields, custom_scalars=scalars, mode=mode)
    # Subscriptions: generate against the subscription root as if it were the query root,
    # then print the operation as a subscription.
    schema = graphql.build_schema(sdl)
    as_query = graphql.GraphQLSchema(
        query=schema.subscription_type, types=list(schema.type_map.values())
    )

    def print_subscription(document: graphql.DocumentNode) -> str:
        printed = graphql.print_ast(document)
        return "subscription " + printed if printed.startswith("{") else printed

    return hg.queries(
        as_query, fields=fields, custom_scalars=scalars, mode=mode, print_ast=print_subscription
    )


def generate(root: str, negative: bool, count: int, field: str | None = None) -> list[str]:
    return _collect(_strategy(root, negative, field), count)


def _collect(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    found: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found


def _root_fields_with_arguments() -> dict[str, list[str]]:
    schema = graphql.build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    roots = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    return {
        root: [name for name, field in (type_.fields.items() if type_ else ()) if field.args]
        for root, type_ in roots.items()
    }


@pytest.fixture(scope="session")
def operations() -> dict[str, list[str]]:
    """EXAMPLES operations per root type, plus PER_FIELD valid ones for each root field that
    takes arguments, so that every argument gets hostile values however large the schema."""
    negative = int(EXAMPLES * NEGATIVE_SHARE)
    jobs: dict[tuple[str, bool, str | None], int] = {
        (root, is_negative, None): count
        for root in ("query", "mutation", "subscription")
        for is_negative, count in ((False, EXAMPLES - negative), (True, negative))
    }
    for root, fields in _root_fields_with_arguments().items():
        jobs.update({(root, False, field): PER_FIELD for field in fields})
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        futures = {
            job: pool.submit(generate, *job[:2], count, job[2]) for job, count in jobs.items()
        }
        results = {job: future.result() for job, future in futures.items()}
    return {
        root: [op for job, found in results.items() if job[0] == root for op in found]
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


def _arguments(schema: graphql.GraphQLSchema) -> set[str]:
    """Every argument of every field and every field of every input type, as `Type.name(arg)`
    and `Input.field`; Upload values are files, sent by the upload tests instead."""
    found = set()
    for named in schema.type_map.values():
        if named.name.startswith("__"):
            continue
        if isinstance(named, graphql.GraphQLObjectType):
            found |= {
                f"{named.name}.{name}({arg})"
                for name, field in named.fields.items()
                for arg in field.args
            }
        if isinstance(named, graphql.GraphQLInputObjectType):
            found |= {
                f"{named.name}.{name}"
                for name, field in named.fields.items()
                if graphql.get_named_type(field.type).name != "Upload"
            }
    return found


def _given_values(schema: graphql.GraphQLSchema, operations: list[str]) -> set[str]:
    """The arguments and input fields that got a non-null value in these operations."""
    given: set[str] = set()
    type_info = graphql.TypeInfo(schema)

    class Collect(graphql.Visitor):
        def enter_field(self, node: graphql.FieldNode, *_: Any) -> None:
            parent = type_info.get_parent_type()
            for argument in node.arguments or ():
                if parent is not None and not isinstance(argument.value, graphql.NullValueNode):
                    given.add(f"{parent.name}.{node.name.value}({argument.name.value})")

        def enter_object_field(self, node: graphql.ObjectFieldNode, *_: Any) -> None:
            parent = type_info.get_parent_input_type()
            if parent is not None and not isinstance(node.value, graphql.NullValueNode):
                given.add(f"{graphql.get_named_type(parent).name}.{node.name.value}")

    for operation in operations:
        document = graphql.parse(operation.removeprefix("subscription "))
        graphql.visit(document, graphql.TypeInfoVisitor(type_info, Collect()))
    return given


def test_fuzzed_operations_give_every_argument_a_value(operations: dict[str, list[str]]) -> None:
    """The fuzzing reaches everything a client can send: no argument is left out (root fields'
    arguments one at a time, nested fields' arguments in the generated operations)."""
    schema = graphql.build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    assert schema.subscription_type is not None
    as_query = graphql.GraphQLSchema(
        query=schema.subscription_type, types=list(schema.type_map.values())
    )
    given = _given_values(schema, operations["query"] + operations["mutation"])
    given |= _given_values(as_query, operations["subscription"])
    for root in ("query", "mutation", "subscription"):
        given |= argument_cases(root, "1")[1]
    assert _arguments(schema) - given == set()


# Claims arrive as JSON decoded by the JWT library: unlike a request body, lone surrogates pass.
CLAIM_CHARACTERS = st.characters(exclude_categories=())
FUTURE = "future"  # replaced by a time an hour ahead when the token is signed
HEADER_ROOM = 6000  # characters of token that fit the server's 8 KB header limit


def claims() -> st.SearchStrategy[dict[str, Any]]:
    """Payloads of validly signed tokens: each claim either sensible or of any type at all."""
    short_text = st.one_of(st.sampled_from(KNOWN), st.text(CLAIM_CHARACTERS, max_size=20))
    anything = st.recursive(
        st.one_of(
            st.none(),
            st.booleans(),
            st.sampled_from(BIG_NUMBERS).flatmap(lambda n: st.sampled_from([n, -n, n**5])),
            st.integers(),
            st.floats(),
            short_text,
        ),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
        max_leaves=6,
    ) | st.builds(  # around the user id's length
        operator.mul, CLAIM_CHARACTERS, st.sampled_from((0, 128, 129))
    )
    return st.fixed_dictionaries(
        {
            "sub": st.one_of(st.just("fuzz-claims"), anything),
            "role": st.one_of(st.sampled_from(["customer", "agent", "admin"]), anything),
            "exp": st.one_of(st.just(FUTURE), anything),
        },
        optional={"name": anything, "iat": anything, "nbf": anything},
    )


def _signed(payload: dict[str, Any]) -> str:
    if payload.get("exp") == FUTURE:
        payload = {**payload, "exp": int(time.time()) + 3600}
    return jwt.encode(payload, TEST_SECRET, algorithm="HS256")


async def test_fuzzed_token_claims_are_accepted_or_401(api: Api) -> None:
    signed = [_signed(payload) for payload in _collect(claims(), max(EXAMPLES // 8, 50))]
    tokens = [token for token in signed if len(token) <= HEADER_ROOM]
    assert len(tokens) >= 0.8 * len(signed), (len(tokens), len(signed))
    query = (
        'mutation { createTicket(input: {categorySlug: "app-help", question: "Hi"}) '
        "{ ticket { owner { id name } } errors { code } } }"
    )
    failures: list[tuple[Any, int, Any]] = []
    for token in tokens:
        response = await api.client.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = {"text": await response.text()}
        code = (body.get("errors") or [{}])[0].get("extensions", {}).get("code")
        refused_as_401 = response.status == 401 and code == "UNAUTHENTICATED"
        if response.content_type != "application/json" or not (
            response.status == 200 or refused_as_401
        ):
            sent = jwt.decode(token, options={"verify_signature": False})
            failures.append((sent, response.status, body))
    assert not failures, failures[:3]


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


# --- every argument, one at a time --------------------------------------------------------------
# Operations drawn from the whole schema reach each argument only now and then; here each
# argument and input field of every root field gets every boundary value and VALUES_PER_ARGUMENT
# drawn ones, while everything else in the operation is plain and valid.

VALUES_PER_ARGUMENT = max(8, EXAMPLES // 100)
NOW = "2026-01-01T00:00:00+00:00"
EDGES: dict[str, list[Any]] = {
    "String": [
        "x" * 65,
        "x" * 129,
        "x" * 201,
        "я" * 10_001,
        "a\x00b",
        str(2**63),
        _b64(json.dumps([NOW, 2**63]).encode()),
        _b64(json.dumps([NOW, -(2**63) - 1]).encode()),
        _b64(json.dumps([[NOW], True]).encode()),
    ],
    "ID": [
        str(2**63),
        str(2**64),
        "-1",
        "0",
        "u" * 129,
        "1\x00",
        2**63,
        -1,
        # Global ids (base64 of "Type:key") with a key no row can have, or of no type at all.
        base64.b64encode(f"Ticket:{2**63}".encode()).decode(),
        base64.b64encode(b"TicketEvent:-1").decode(),
        base64.b64encode(b"User:" + b"u" * 129).decode(),
        base64.b64encode(b"User:u\x00").decode(),
        base64.b64encode(b"Nothing:1").decode(),
        base64.b64encode(b"\xff:1").decode(),
    ],
    "Int": [2**31, -(2**31) - 1, 2**63, -1, 0, 101],
    "DateTime": ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00", "2026-01-01", "x"],
}


def drawn_values(kind: str) -> list[Any]:
    texts: st.SearchStrategy[Any] = hostile_text()
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "String": texts,
        "ID": texts | st.integers(),
        "Int": st.integers(),
        "DateTime": texts | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    }
    return _collect(strategies[kind], VALUES_PER_ARGUMENT)


def _plain(type_: Any, ticket_id: str) -> Any:
    """A valid value for a required argument, so that only the argument under test is hostile."""
    type_ = graphql.get_nullable_type(type_)
    if isinstance(type_, graphql.GraphQLList):
        return [_plain(type_.of_type, ticket_id)]
    if isinstance(type_, graphql.GraphQLInputObjectType):
        return {
            name: _plain(field.type, ticket_id)
            for name, field in type_.fields.items()
            if graphql.is_required_input_field(field)
        }
    if isinstance(type_, graphql.GraphQLEnumType):
        return next(iter(type_.values))
    plain = {"ID": ticket_id, "String": "app-help", "Int": 1, "Boolean": False, "DateTime": NOW}
    plain["Upload"] = None  # files are the upload tests' part
    return plain[type_.name]


Leaf = tuple[tuple[str, ...], frozenset[str], Any, bool]


def _leaves(type_: Any, path: tuple[str, ...], names: frozenset[str]) -> list[Leaf]:
    """(path, the input fields along it, scalar or enum type, is a list) of every value under an
    argument."""
    nullable = graphql.get_nullable_type(type_)
    named = graphql.get_named_type(type_)
    if isinstance(named, graphql.GraphQLInputObjectType):
        return [
            leaf
            for name, field in named.fields.items()
            for leaf in _leaves(field.type, (*path, name), names | {f"{named.name}.{name}"})
        ]
    if named.name == "Upload":
        return []  # files: the upload tests
    return [(path, names, named, isinstance(nullable, graphql.GraphQLList))]


def _values(named: Any, drawn: dict[str, list[Any]]) -> list[Any]:
    if isinstance(named, graphql.GraphQLEnumType):
        return list(named.values)
    if named.name == "Boolean":
        return [True, False]
    return EDGES[named.name] + drawn[named.name]  # a new scalar needs its boundary values here


def argument_cases(root: str, ticket_id: str) -> tuple[list[tuple[str, dict[str, Any]]], set[str]]:
    """(operation, variables) for each value of each argument of each field of the root, and the
    arguments and input fields that got a value."""
    schema = graphql.build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    type_ = {"query": schema.query_type, "mutation": schema.mutation_type}.get(
        root, schema.subscription_type
    )
    assert type_ is not None
    drawn = {kind: drawn_values(kind) for kind in EDGES}
    cases, given = [], set()
    for name, field in type_.fields.items():
        declared = ", ".join(f"${arg}: {a.type}" for arg, a in field.args.items())
        passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
        operation = f"{root}({declared}) {{ {name}({passed}) {{ __typename }} }}"
        base = {
            arg: _plain(a.type, ticket_id)
            for arg, a in field.args.items()
            if graphql.is_non_null_type(a.type)
        }
        for arg, a in field.args.items():
            top = frozenset({f"{type_.name}.{name}({arg})"})
            for path, names, named, is_list in _leaves(a.type, (arg,), top):
                given |= names
                for value in _values(named, drawn):
                    variables = json.loads(json.dumps(base))
                    target = variables
                    for step in path[:-1]:
                        target = target.setdefault(step, {})
                    target[path[-1]] = [value] if is_list else value
                    cases.append((operation, variables))
    return cases, given


async def test_every_argument_takes_hostile_values_without_failing(api: Api) -> None:
    ticket = await create_ticket(api, as_="fuzz-customer")
    tokens = {role: api.token(f"fuzz-{role}", role) if role else None for role in ROLES}
    failures: list[tuple[str, dict[str, Any], int, Any]] = []

    async def one(index: int, operation: str, variables: dict[str, Any]) -> None:
        token = tokens[ROLES[index % len(ROLES)]]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await api.client.post(
            "/graphql", json={"query": operation, "variables": variables}, headers=headers
        )
        body = await response.json(content_type=None)
        if response.status >= 500 or _internal(body):
            failures.append((operation, variables, response.status, body))

    cases = argument_cases("query", ticket["id"])[0] + argument_cases("mutation", ticket["id"])[0]
    for start in range(0, len(cases), 16):
        chunk = cases[start : start + 16]
        await asyncio.gather(*(one(start + i, *case) for i, case in enumerate(chunk)))
    assert not failures, failures[:3]

    subscriptions = argument_cases("subscription", ticket["id"])[0]
    for role in ROLES:
        payload = {"token": tokens[role]} if role else {}
        socket = await connect(api.client, payload)
        try:
            share = subscriptions[ROLES.index(role) :: len(ROLES)]
            for start in range(0, len(share), 50):
                chunk = share[start : start + 50]
                ids = [
                    await socket.subscribe(operation, variables) for operation, variables in chunk
                ]
                by_id = dict(zip(ids, (op for op, _ in chunk), strict=True))
                failures += await _drain(socket, by_id)
                for op_id in ids:
                    await socket.ws.send_json({"id": op_id, "type": "complete"})
        finally:
            await socket.close()
    assert not failures, failures[:3]
