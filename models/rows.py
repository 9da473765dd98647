"""Hot reads: a plain SELECT's rows turned into models with less work than Tortoise's executor.

Tortoise builds an executor per query and each instance through keyword arguments; for the
pages read on every request that is most of the time they take. `fetch` runs the same SQL
through the same connection (so statement logs and transactions are unchanged) and sets each
instance's fields with the same conversions `Model._init_from_db` applies. A query with
anything more than filters, ordering and a limit is awaited as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from string import Formatter
from typing import Any, TypeVar

from pypika_tortoise.context import SqlContext
from pypika_tortoise.terms import Parameterizer, Term
from pypika_tortoise.utils import format_alias_sql
from tortoise.expressions import RawSQL
from tortoise.fields.data import DatetimeField, parse_datetime
from tortoise.models import Model
from tortoise.queryset import AwaitableQuery, QuerySet
from tortoise.timezone import get_default_timezone, get_timezone, get_use_tz

M = TypeVar("M", bound=Model)
Builder = Callable[[Any], Any]
_builders: dict[tuple[type[Model], bool, str], Builder] = {}


def _builder(model: type[M]) -> Callable[[Any], M]:
    """row → instance, with each column converted as `Model._init_from_db` converts it."""
    meta = model._meta
    native = [(key, name) for key, name, _ in meta.db_native_fields]
    default = [(key, name, field.field_type) for key, name, field in meta.db_default_fields]
    complex_ = [(key, name, _converter(field)) for key, name, field in meta.db_complex_fields]
    custom_pk = meta.db_pk_column not in meta.generated_db_fields
    new = model.__new__

    def build(row: Any) -> M:
        instance = new(model)
        values = instance.__dict__
        values["_partial"] = False
        values["_saved_in_db"] = True
        values["_custom_generated_pk"] = custom_pk
        values["_await_when_save"] = {}
        for key, name in native:
            values[name] = row[key]
        for key, name, convert in default:
            value = row[key]
            values[name] = None if value is None else convert(value)
        for key, name, to_python in complex_:
            values[name] = to_python(row[key])
        return instance

    return build


def _converter(field: Any) -> Callable[[Any], Any]:
    """The field's `to_python_value`; for timestamps, its common case inlined."""
    to_python: Callable[[Any], Any] = field.to_python_value
    if type(field) is not DatetimeField or not get_use_tz():
        return to_python
    zone = get_default_timezone()

    def timestamp(value: Any) -> Any:
        # An aware timestamp comes back in the default zone: parsed from SQLite's text, or as
        # PostgreSQL's driver gives it.
        if type(value) is str:
            value = parse_datetime(value)
        if type(value) is datetime and value.tzinfo is not None:
            return value.astimezone(zone)
        return to_python(value)

    return timestamp


def _plain(query: QuerySet[Any]) -> bool:
    return not (
        query._prefetch_map
        or query._prefetch_queries
        or query._select_related
        or query._annotations
        or query._fields_for_select
        or query._single
        or query._select_for_update
    )


async def fetch(query: QuerySet[M]) -> list[M]:
    """The query's models, as `await query` returns them."""
    if not _plain(query):
        return await query
    query._choose_db_if_not_chosen()
    query._make_query()
    sql, values = query.query.get_parameterized_sql()
    _, rows = await query._db.execute_query(sql, values)
    return instances(query.model, rows)


async def first_of_each(query: QuerySet[M], *, group: str, limit: int) -> list[M]:
    """The first `limit` rows by id of each value of `group`, in id order: one statement that
    never reads more than `limit` rows of any group, however many groups it covers."""
    ranked = query.annotate(
        _rank=RawSQL(f'ROW_NUMBER() OVER (PARTITION BY "{group}" ORDER BY "id")')
    )
    ranked._choose_db_if_not_chosen()
    ranked._make_query()
    inner, values = ranked.query.get_parameterized_sql()
    sql = f'SELECT * FROM ({inner}) "ranked" WHERE "_rank" <= {int(limit)} ORDER BY "id"'
    _, rows = await ranked._db.execute_query(sql, values)
    return instances(query.model, rows)


def instances(model: type[M], rows: Sequence[Any]) -> list[M]:
    """Instances from raw rows (mappings by column name, values as the database gives them),
    with the builder of this model and time zone settings."""
    key = (model, get_use_tz(), get_timezone())
    build = _builders.get(key)
    if build is None:
        build = _builders[key] = _builder(model)
    return [build(row) for row in rows]


class Composed(Term):
    """SQL around querysets: `Composed('(SELECT COUNT(*) FROM ({rows}) "r")', rows=query)`.

    Each `{name}` is the named queryset's statement, rendered with the enclosing statement's
    parameters (as Tortoise's `Subquery` is), so the whole stays one parameterized statement on
    either database. For what the ORM cannot say: correlated subqueries and joins on more than a
    foreign key. The template itself must hold no values, only names."""

    def __init__(self, template: str, **parts: AwaitableQuery[Any]) -> None:
        super().__init__()
        self.template = template
        self.parts = parts

    def get_sql(self, ctx: SqlContext) -> str:
        rendered: list[str] = []
        inner = ctx.copy(subquery=False, with_alias=False)
        # Rendered in the order they appear, so positional parameters ("?") line up.
        for literal, name, _, _ in Formatter().parse(self.template):
            rendered.append(literal)
            if name is not None:
                part = self.parts[name]
                part._choose_db_if_not_chosen()
                part._make_query()
                rendered.append(part.query.get_parameterized_sql(inner)[0])
        sql = "".join(rendered)
        return format_alias_sql(sql=sql, alias=self.alias, ctx=ctx) if ctx.with_alias else sql


def render(statement: Composed, model: type[Model]) -> tuple[str, list[Any]]:
    """The statement's SQL and parameter values, in the dialect of `model`'s connection."""
    query = model.all()
    query._choose_db_if_not_chosen()
    query._make_query()
    ctx = query.query.QUERY_CLS.SQL_CONTEXT.copy(parameterizer=Parameterizer())
    sql = statement.get_sql(ctx)
    assert ctx.parameterizer is not None
    return sql, list(ctx.parameterizer.values)


async def select(sql: str, values: Sequence[Any], model: type[Model]) -> list[dict[str, Any]]:
    """Run a rendered statement on the connection of `model`'s app: its rows as dicts."""
    rows = await model._meta.db.execute_query_dict(sql, list(values))
    return list(rows)
