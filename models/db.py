"""Database lifetime: Tortoise configuration, migrations and the seeded categories."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as migrate_api

from models.faq_seed import FAQ_SEED
from models.tables import Category, Counter, FaqEntry, SlaPolicy

APP = "models"

# (slug, name_ru, name_en, [(child slug, name_ru, name_en)])
CATEGORY_TREE: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    ("app-help", "Помощь по приложению", "Help with the application", []),
    ("system-errors", "Ошибки системы", "System errors", []),
    (
        "documents-finance",
        "Документы/Финансы",
        "Documents / Finance",
        [
            ("metric-billing", "Запрос тарификации метрики", "Metric billing request"),
            ("other", "Иное", "Other"),
        ],
    ),
]


# The service levels seeded for every leaf category and urgency without a policy:
# (first response, resolution) in minutes, around the clock.
DEFAULT_SLA_MINUTES = {True: (60, 8 * 60), False: (4 * 60, 3 * 24 * 60)}


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            APP: {
                "models": ["models"],
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def _keep_session(connection: Any) -> None:
    """What a pooled PostgreSQL connection needs on release beyond ending its transaction:
    nothing. The app keeps no session state (its advisory locks are transaction-scoped, it
    never LISTENs or SETs), so the reset query asyncpg would send after every statement is a
    round trip saved."""


def _connection(database_url: str) -> str | dict[str, Any]:
    """SQLite gets WAL and a busy timeout so a reader never blocks the writer."""
    parts = urlsplit(database_url)
    if parts.scheme != "sqlite":
        config = expand_db_url(database_url)
        if config["engine"] != "tortoise.backends.asyncpg":
            return database_url
        credentials = config["credentials"]
        # A pool of 20 unless the URL says otherwise (asyncpg's default of 5 queues requests
        # and live-event reads behind each other under load).
        credentials.setdefault("maxsize", 20)
        credentials["reset"] = _keep_session
        return config
    path = database_url[len("sqlite://") :]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "engine": "tortoise.backends.sqlite",
        "credentials": {
            "file_path": path,
            "journal_mode": "WAL",
            "busy_timeout": 5000,
            "foreign_keys": "ON",
        },
    }


async def migrate(database_url: str) -> None:
    """Apply every migration not yet applied (idempotent), then seed categories."""
    try:
        await migrate_api(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
    async with connected(database_url):
        await seed_categories()


async def seed_categories() -> None:
    """Insert or refresh the category tree and the FAQ; safe to run any number of times."""
    for position, (slug, name_ru, name_en, children) in enumerate(CATEGORY_TREE):
        section_id = await _upsert_category(slug, name_ru, name_en, None, position)
        for child_position, (child_slug, child_ru, child_en) in enumerate(children):
            await _upsert_category(child_slug, child_ru, child_en, section_id, child_position)
    if not await Counter.exists(name="ticket_number"):
        await Counter.create(name="ticket_number", value=0)
    await seed_faq()
    await seed_sla_policies()


async def seed_sla_policies() -> None:
    """The default policy of every leaf category and urgency that has none (safe to rerun)."""
    categories = await Category.all()
    parents = {c.parent_id for c in categories}
    for leaf in (c for c in categories if c.id not in parents):
        for urgent, (first, resolution) in DEFAULT_SLA_MINUTES.items():
            current = SlaPolicy.filter(category_id=leaf.id, urgent=urgent, replaced_at=None)
            if not await current.exists():
                await SlaPolicy.create(
                    category_id=leaf.id,
                    urgent=urgent,
                    first_response_minutes=first,
                    resolution_minutes=resolution,
                    created_at=datetime.now(UTC),
                )


async def seed_faq() -> None:
    """Insert or refresh the FAQ and tips; safe to run any number of times."""
    for position, (slug, kind, question_ru, question_en, answer_ru, answer_en) in enumerate(
        FAQ_SEED
    ):
        values: dict[str, Any] = {
            "kind": kind,
            "position": position,
            "question_ru": question_ru,
            "question_en": question_en,
            "answer_ru": answer_ru,
            "answer_en": answer_en,
        }
        if await FaqEntry.exists(slug=slug):
            await FaqEntry.filter(slug=slug).update(**values)
        else:
            await FaqEntry.create(slug=slug, **values)


async def _upsert_category(
    slug: str, name_ru: str, name_en: str, parent_id: int | None, position: int
) -> int:
    values: dict[str, Any] = {
        "name_ru": name_ru,
        "name_en": name_en,
        "parent_id": parent_id,
        "position": position,
    }
    existing = await Category.get_or_none(slug=slug)
    if existing is None:
        return (await Category.create(slug=slug, **values)).id
    await Category.filter(id=existing.id).update(**values)
    return existing.id


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[None]:
    """Open the ORM's connections for the lifetime of the block."""
    await Tortoise.init(config=tortoise_config(database_url))
    _count_statements()
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def ping() -> bool:
    """Whether the database answers a trivial query."""
    try:
        await Tortoise.get_connection("default").execute_query("SELECT 1")
    except Exception:
        return False
    return True


def connections_in_use() -> int:
    """Checked-out connections of the PostgreSQL pool (SQLite: its single connection)."""
    try:
        client: Any = Tortoise.get_connection("default")
    except Exception:
        return 0
    pool = getattr(client, "_pool", None)
    if pool is None:
        return 1 if getattr(client, "_connection", None) is not None else 0
    return int(pool.get_size() - pool.get_idle_size())


# True inside the process's own background work (the event feed, probes, sweeps): what it sends
# belongs to no request, so a statement count of a request leaves it out.
BACKGROUND: contextvars.ContextVar[bool] = contextvars.ContextVar("background", default=False)


STOP_RETRY_SECONDS = 0.5


def background_task(coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    """A task of the process's own, apart from any request."""
    context = contextvars.copy_context()
    context.run(BACKGROUND.set, True)
    return asyncio.get_running_loop().create_task(coroutine, name=name, context=context)


async def stop_tasks(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks and wait until each has ended. The cancellation is repeated while one
    runs on: a library awaiting through Python 3.11's `wait_for` (redis-py, the database
    drivers) can swallow a cancellation that lands as its own wait ends, and a single cancel
    would then leave shutdown waiting for ever."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_RETRY_SECONDS)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: its own loop has logged what went wrong


class StatementLog:
    """Every SQL statement a request sends, apart from the process's background work."""

    def __init__(self) -> None:
        self.statements: list[str] = []


# Tortoise's clients announce each statement on their `log` before sending it (with
# "Created/Closed connection ..." lines around), and a transaction's client takes its parent's
# `log`: standing in for it on the connections `connected` opens sees every statement once.
_CONNECTION_LINES = ("Created connection", "Closed connection")
_recordings: list[StatementLog] = []
_sent = 0


def statements_sent() -> int:
    """Statements this process has sent to the database since it started (all of them, the
    background work's too; BEGIN and COMMIT of a transaction are not counted)."""
    return _sent


class _CountingLog(logging.LoggerAdapter):
    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        global _sent
        if not (isinstance(msg, str) and msg.startswith(_CONNECTION_LINES)):
            _sent += 1
            if _recordings and not BACKGROUND.get():
                text = msg % args if args and isinstance(msg, str) else str(msg)
                for recording in _recordings:
                    recording.statements.append(text)
        super().debug(msg, *args, **kwargs)


def _count_statements() -> None:
    for client in connections.all():
        if not isinstance(client.log, _CountingLog):
            client.log = _CountingLog(client.log)


@contextmanager
def recording_statements() -> Iterator[StatementLog]:
    """`with recording_statements() as log:` records (without printing) what is sent meanwhile."""
    recording = StatementLog()
    _recordings.append(recording)
    try:
        yield recording
    finally:
        _recordings.remove(recording)
