"""The fast path answers exactly as graphql-core's general path does, for leaves and whole pages."""

from __future__ import annotations

import asyncio
import enum
import os
from typing import Any, NewType

import pytest
import strawberry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.extensions import FieldExtension, ParserCache, ValidationCache
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig

from schema.execution import STATS, FastPathExecutionContext
from tests.conftest import Api
from tests.fixtures import create_ticket

# A resolver's awaitable left unawaited by the fast path would surface as one of these.
pytestmark = pytest.mark.filterwarnings(
    "error::RuntimeWarning", "error::pytest.PytestUnraisableExceptionWarning"
)


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    id: strawberry.ID
    count: int
    color: Color
    label: str | None
    title: str

    @strawberry.field
    def greeting(self, loud: bool = False) -> str:
        return f"HELLO {self.id}" if loud else f"hello {self.id}"


def items() -> list[Any]:
    good = Item(id=strawberry.ID("1"), count=3, color=Color.BLUE, label=None, title="a")
    broken_count = Item(id=strawberry.ID("2"), count="many", color=Color.RED, label="x", title="b")  # type: ignore[arg-type]
    missing_title = Item(id=strawberry.ID("3"), count=1, color=Color.RED, label="y", title=None)  # type: ignore[arg-type]
    return [good, broken_count, missing_title]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return items()


QUERY = """query($loud: Boolean) {
  items {
    id count color label title
    greeting quiet: greeting(loud: false) shout: greeting(loud: $loud)
  }
}"""


@pytest.mark.parametrize("loud", [True, False])
async def test_fast_and_general_paths_agree(loud: bool) -> None:
    fast = strawberry.Schema(query=Query, execution_context_class=FastPathExecutionContext)
    general = strawberry.Schema(query=Query)
    results = [
        await schema.execute(QUERY, variable_values={"loud": loud}) for schema in (fast, general)
    ]
    assert results[0].data == results[1].data
    assert [(e.message, e.path) for e in results[0].errors or []] == [
        (e.message, e.path) for e in results[1].errors or []
    ]
    data = results[0].data
    assert data is not None
    first = data["items"][0]
    assert first == {
        "id": "1",
        "count": 3,
        "color": "BLUE",
        "label": None,
        "title": "a",
        "greeting": "hello 1",
        "quiet": "hello 1",
        "shout": "HELLO 1" if loud else "hello 1",
    }
    # A value the scalar refuses and a null in a non-null field: errors with their paths, and
    # the item itself becomes null, as the general path decides.
    assert data["items"][1] is None and data["items"][2] is None
    assert sorted(tuple(e.path or ()) for e in results[0].errors or []) == [
        ("items", 1, "count"),
        ("items", 2, "title"),
    ]


# A graph of people with every kind of field the fast path meets or must leave to graphql-core:
# attributes, synchronous resolvers with and without `info` and arguments, async resolvers,
# resolvers that raise, nulls in non-null places, values a scalar refuses, abstract types.


# A scalar that refuses some values by answering null, as a custom scalar may.
Mood = NewType("Mood", str)
MOOD = strawberry.scalar(
    name="Mood", serialize=lambda value: None if value == "none" else value, parse_value=str
)


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Dog(Named):
    barks: bool


@strawberry.type
class Cat(Named):
    lives: int


@strawberry.type
class Person:
    id: strawberry.ID
    name: str
    nick: str | None
    color: Color
    tags: list[str | None]
    scores: list[int] | None
    mood: Mood | None
    active: bool
    age: int
    friend_ids: strawberry.Private[list[int]]

    @strawberry.field
    def friends(self, info: strawberry.Info) -> list[Person]:
        return [info.context["people"][i] for i in self.friend_ids]

    @strawberry.field
    def best_friend(self, info: strawberry.Info) -> Person | None:
        return info.context["people"][self.friend_ids[0]] if self.friend_ids else None

    @strawberry.field
    async def rival(self, info: strawberry.Info) -> Person | None:
        return info.context["people"][(int(self.id) + 1) % 4]

    @strawberry.field
    def pal(self, info: strawberry.Info) -> Person | None:
        """Synchronous, but answers with an awaitable (as a DataLoader does) for some."""
        pal = info.context["people"][(int(self.id) + 2) % 4]
        return asyncio.sleep(0, result=pal) if self.id in "01" else pal  # type: ignore[return-value]

    @strawberry.field
    def shout(self, loud: bool = False, times: int = 1) -> str:
        return (self.name.upper() if loud else self.name) * max(0, min(times, 3))

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return ".".join(str(key) for key in info.path.as_list())

    @strawberry.field
    def broken(self) -> int:
        if self.id == "2":
            raise ValueError("broken person")
        return 1

    @strawberry.field
    def must(self) -> str:
        return None if self.id == "3" else "ok"  # type: ignore[return-value]

    @strawberry.field
    def pet(self) -> Dog | Cat:
        return Dog(name="Rex", barks=True) if self.id in "02" else Cat(name="Tom", lives=9)

    @strawberry.field
    def named(self) -> Named:
        return Cat(name="Felix", lives=7)

    @strawberry.field
    def cat(self) -> Cat:
        """A type with an interface, through a field of its own type (no abstract type)."""
        return Cat(name="Felix", lives=int(self.id))

    @strawberry.field
    def impostor(self) -> Cat | None:
        """Some answer a Dog where a Cat belongs (Strawberry's `is_type_of` takes any Named),
        some themselves (it refuses a Person)."""
        if self.id == "1":
            return Dog(name="Rex", barks=True)  # type: ignore[return-value]
        return self if self.id == "3" else Cat(name="Kit", lives=1)  # type: ignore[return-value]


def people() -> dict[int, Person]:
    raw = [
        ("0", "Ann", "annie", Color.RED, ["a", None], [1, 2], [1, 2]),
        ("1", "Bob", 7, Color.BLUE, [], None, [0]),  # a nick String answers as "7"
        ("2", "Cy", "c", "red", [None], [3], []),  # the enum's value, not its member
        ("3", "Di", None, Color.BLUE, ["d"], ["x"], [2, 1, 0]),  # a score Int refuses
    ]
    return {
        int(id_): Person(
            id=strawberry.ID(id_),
            name=name,
            nick=nick,  # type: ignore[arg-type]
            color=color,  # type: ignore[arg-type]
            tags=tags,  # type: ignore[arg-type]
            scores=scores,  # type: ignore[arg-type]
            mood=Mood("none" if id_ == "1" else "calm"),
            active=1 if id_ == "2" else id_ != "3",  # type: ignore[arg-type]
            age={"0": 30, "1": 2**40, "2": True, "3": 41}[id_],  # too big for Int; a bool
            friend_ids=friend_ids,
        )
        for id_, name, nick, color, tags, scores, friend_ids in raw
    }


@strawberry.type
class PeopleQuery:
    @strawberry.field
    def people(self, info: strawberry.Info) -> list[Person | None]:
        return [*info.context["people"].values(), None]

    @strawberry.field
    def everyone(self, info: strawberry.Info) -> list[Person]:
        return list(info.context["people"].values())

    @strawberry.field
    async def person(self, info: strawberry.Info, id: int = 0) -> Person | None:
        return info.context["people"].get(id)


PEOPLE_TYPES: list[type] = [Dog, Cat]
PEOPLE_CONFIG = StrawberryConfig(scalar_map={Mood: MOOD})
PEOPLE_FAST = strawberry.Schema(
    query=PeopleQuery,
    types=PEOPLE_TYPES,
    config=PEOPLE_CONFIG,
    execution_context_class=FastPathExecutionContext,
)
PEOPLE_GENERAL = strawberry.Schema(query=PeopleQuery, types=PEOPLE_TYPES, config=PEOPLE_CONFIG)


def _answer(result: Any) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


async def _agree(query: str, variables: dict[str, Any] | None = None) -> Any:
    fast, general = [
        await schema.execute(query, variable_values=variables, context_value={"people": people()})
        for schema in (PEOPLE_FAST, PEOPLE_GENERAL)
    ]
    assert _answer(fast) == _answer(general), query
    return fast


async def test_nested_pages_agree_with_the_general_path() -> None:
    query = """query($loud: Boolean, $with: Boolean!) {
      everyone {
        __typename id name nick color tags scores path
        loud: shout(loud: $loud, times: 2) shout
        friends { id path bestFriend { name path friends @include(if: $with) { id } } }
        ...More
      }
    }
    fragment More on Person { bestFriend { id __typename } nick }"""
    result = await _agree(query, {"loud": True, "with": True})
    # Di's scores hold a value Int refuses: the list becomes null, the rest stands.
    assert _answer(result)[1] == [
        ("Int cannot represent non-integer value: 'x'", ("everyone", 3, "scores", 0))
    ]
    ann = result.data["everyone"][0]
    assert ann["path"] == "everyone.0.path"
    assert ann["friends"][0]["bestFriend"]["path"] == "everyone.0.friends.0.bestFriend.path"
    assert ann["loud"] == "ANNANN" and ann["bestFriend"] == {"id": "1", "__typename": "Person"}


async def test_every_unusual_field_agrees_with_the_general_path() -> None:
    query = """{
      people {
        id nick active age color mood broken must scores
        pal { id path pal { name } } rival { id path }
        pet { __typename ... on Dog { barks } }
        named { name __typename } friends { must broken path }
      }
      person(id: 3) { friends { bestFriend { path } } }
    }"""
    result = await _agree(query)
    assert result.errors


@settings(
    max_examples=int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "300")) // 3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
async def test_generated_operations_agree_with_the_general_path(data: Any) -> None:
    import hypothesis_graphql as hg

    query = data.draw(hg.queries(str(PEOPLE_GENERAL)))
    await _agree(query)


async def test_objects_of_a_type_with_an_interface_stay_on_the_fast_path() -> None:
    """Strawberry gives such a type an `is_type_of`: the fast path answers an object of exactly
    its class, and leaves anything else to graphql-core, which refuses what it refuses."""
    answered, handed_over = STATS.answered, STATS.handed_over
    result = await _agree("{ everyone { cat { name lives } } }")
    assert result.data["everyone"][2]["cat"] == {"name": "Felix", "lives": 2}
    assert (STATS.answered, STATS.handed_over) == (answered + 1, handed_over)
    result = await _agree("{ everyone { impostor { name } } }")
    assert [e["impostor"] for e in result.data["everyone"]] == [
        {"name": "Kit"},
        {"name": "Rex"},
        {"name": "Kit"},
        None,
    ]
    assert "Expected value of type 'Cat'" in result.errors[0].message
    assert STATS.handed_over == handed_over + 2


async def test_compiled_steps_are_reused_only_for_the_same_variables() -> None:
    """One parsed document, run with different variables: each run answers for its own."""
    cached = strawberry.Schema(
        query=PeopleQuery,
        types=PEOPLE_TYPES,
        config=PEOPLE_CONFIG,
        extensions=[ParserCache, ValidationCache],
        execution_context_class=FastPathExecutionContext,
    )
    query = """query($loud: Boolean, $times: Int, $with: Boolean!) {
      everyone { shout(loud: $loud, times: $times) friends @include(if: $with) { name } }
    }"""
    runs = [
        {"loud": loud, "times": times, "with": with_}
        for loud in (True, False)
        for times in (1, 2)
        for with_ in (True, False)
    ]
    for variables in runs * 2:
        fast = await cached.execute(
            query, variable_values=variables, context_value={"people": people()}
        )
        general = await PEOPLE_GENERAL.execute(
            query, variable_values=variables, context_value={"people": people()}
        )
        assert _answer(fast) == _answer(general), variables
        assert fast.data is not None
        assert fast.data["everyone"][0]["shout"] == ("ANN" if variables["loud"] else "Ann") * int(
            variables["times"]
        )
        assert ("friends" in fast.data["everyone"][0]) is variables["with"]


# What Strawberry runs around a field (permission classes, field extensions, a configured default
# resolver) runs on the fast path too: such a field is never read as a plain attribute.


class StaffOnly(BasePermission):
    message = "Staff only."

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return bool(info.context.get("staff"))


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: strawberry.Info, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Secret:
    name: str
    code: str = strawberry.field(permission_classes=[StaffOnly])
    shout: str = strawberry.field(extensions=[Upper()])

    @strawberry.field(permission_classes=[StaffOnly])
    def pin(self) -> int:
        return 1234


@strawberry.type
class SecretQuery:
    @strawberry.field
    def secrets(self) -> list[Secret | None]:
        return [Secret(name=f"s{i}", code=f"c{i}", shout=f"x{i}") for i in range(3)]


@pytest.mark.parametrize("staff", [False, True])
async def test_permission_classes_and_field_extensions_run_on_the_fast_path(staff: bool) -> None:
    query = "{ secrets { name code shout pin } }"
    fast, general = [
        await strawberry.Schema(query=SecretQuery, **kwargs).execute(  # type: ignore[arg-type]
            query, context_value={"staff": staff}
        )
        for kwargs in ({"execution_context_class": FastPathExecutionContext}, {})
    ]
    assert _answer(fast) == _answer(general)
    if staff:
        assert fast.data == {
            "secrets": [
                {"name": f"s{i}", "code": f"c{i}", "shout": f"X{i}", "pin": 1234} for i in range(3)
            ]
        }
    else:
        assert fast.data == {"secrets": [None, None, None]}
        assert {message for message, _ in _answer(fast)[1]} == {"Staff only."}


@strawberry.type
class Record:
    name: str


@strawberry.type
class RecordQuery:
    @strawberry.field
    def rows(self) -> list[Record]:
        return [Record(name="a"), Record(name="b")]


async def test_a_configured_default_resolver_reads_every_attribute() -> None:
    config = StrawberryConfig(default_resolver=lambda source, name: getattr(source, name).upper())
    fast, general = [
        await strawberry.Schema(query=RecordQuery, config=config, **kwargs).execute(  # type: ignore[arg-type]
            "{ rows { name } }"
        )
        for kwargs in ({"execution_context_class": FastPathExecutionContext}, {})
    ]
    assert _answer(fast) == _answer(general) == ({"rows": [{"name": "A"}, {"name": "B"}]}, [])


# Each resolver runs once per object, whatever the fast path hands to the general path.


CALLS: dict[str, int] = {}


@strawberry.type
class Row:
    number: int

    @strawberry.field
    def label(self) -> str:
        CALLS["label"] = CALLS.get("label", 0) + 1
        return None if self.number == 13 else f"row {self.number}"  # type: ignore[return-value]

    @strawberry.field
    def later(self) -> int:
        """Synchronous, answering an awaitable (as a loader does) for some rows."""
        CALLS["later"] = CALLS.get("later", 0) + 1
        return asyncio.sleep(0, result=self.number) if self.number % 5 == 0 else self.number  # type: ignore[return-value]

    @strawberry.field
    def fails(self) -> int | None:
        CALLS["fails"] = CALLS.get("fails", 0) + 1
        if self.number == 7:
            raise ValueError("seven")
        return self.number


@strawberry.type
class Page:
    @strawberry.field
    def rows(self) -> list[Row | None]:
        CALLS["rows"] = CALLS.get("rows", 0) + 1
        return [Row(number=n) for n in range(21)]


@strawberry.type
class PageQuery:
    @strawberry.field
    def page(self) -> Page:
        return Page()


@pytest.mark.parametrize(
    ("selection", "calls"),
    [
        ("label", {"rows": 1, "label": 21}),
        ("label later", {"rows": 1, "label": 21, "later": 20}),  # row 13 stops at label
        ("number fails later label", {"rows": 1, "label": 21, "later": 21, "fails": 21}),
    ],
)
async def test_a_resolver_runs_once_per_object(selection: str, calls: dict[str, int]) -> None:
    """One null in a non-null field of 21 rows, awaitables, an exception: no row is read twice."""
    query = "{ page { rows { %s } } }" % selection
    answers = []
    for kwargs in ({"execution_context_class": FastPathExecutionContext}, {}):
        CALLS.clear()
        result = await strawberry.Schema(query=PageQuery, **kwargs).execute(query)  # type: ignore[arg-type]
        assert calls == CALLS
        answers.append(_answer(result))
    assert answers[0] == answers[1]
    data, errors = answers[0]
    assert data["page"]["rows"][13] is None and data["page"]["rows"][12] is not None
    assert ("page", "rows", 13, "label") in [path for _, path in errors]


@strawberry.type
class Bag:
    @strawberry.field
    def items(self, extra: list[str]) -> list[str]:
        extra.append("added")  # a resolver that changes its argument
        return extra


@strawberry.type
class BagQuery:
    @strawberry.field
    def bag(self) -> Bag:
        return Bag()


async def test_arguments_are_not_shared_between_executions() -> None:
    schema = strawberry.Schema(
        query=BagQuery,
        extensions=[ParserCache, ValidationCache],
        execution_context_class=FastPathExecutionContext,
    )
    query = "query($extra: [String!]!) { bag { items(extra: $extra) } }"
    for _ in range(3):
        result = await schema.execute(query, variable_values={"extra": ["a"]})
        assert result.data == {"bag": {"items": ["a", "added"]}}


HISTORY_PAGE = (
    "query History($first: Int) { tickets(first: $first) { edges { node {"
    " id number summary status urgent createdAt category { id slug name } owner { id name } } } } }"
)


async def test_the_history_page_runs_on_the_fast_path(api: Api) -> None:
    for _ in range(3):
        await create_ticket(api, "ann")
    answered, handed_over = STATS.answered, STATS.handed_over
    data = await api.gql(HISTORY_PAGE, {"first": 20}, as_="ann")
    assert len(data["tickets"]["edges"]) == 3
    # One compiled step answered `edges` with all it selects (node, category, owner), without
    # handing a value to the general path.
    assert STATS.answered == answered + 1
    assert STATS.handed_over == handed_over


class Gauge:
    """A source whose attribute is computed, and fails for one object."""

    def __init__(self, number: int) -> None:
        self.number = number

    @property
    def value(self) -> int:
        if self.number == 1:
            raise ValueError("gauge 1 is broken")
        return self.number


@strawberry.type
class Reading:
    value: int
    number: int


@strawberry.type
class ReadingQuery:
    @strawberry.field
    def readings(self) -> list[Reading | None]:
        return [Gauge(n) for n in range(3)]  # type: ignore[misc]


async def test_an_attribute_that_raises_is_that_fields_error() -> None:
    query = "{ readings { number value } }"
    fast, general = [
        await strawberry.Schema(query=ReadingQuery, **kwargs).execute(query)  # type: ignore[arg-type]
        for kwargs in ({"execution_context_class": FastPathExecutionContext}, {})
    ]
    assert _answer(fast) == _answer(general)
    assert _answer(fast) == (
        {"readings": [{"number": 0, "value": 0}, None, {"number": 2, "value": 2}]},
        [("gauge 1 is broken", ("readings", 1, "value"))],
    )
