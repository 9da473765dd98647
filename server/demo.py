"""Demo data: many realistic tickets, written in batches, to try the history at scale.

Customers and agents, tickets over the last two years in every leaf category with Russian and
English questions built from a small phrase bank (so searching a word narrows the history the way it
would in real life), statuses consistent with the workflow, numbers continuing the `ticket_number`
counter, and one CREATED event per ticket. PostgreSQL (asyncpg) gets the tickets with COPY; any
other backend with `bulk_create`. Meant for an otherwise quiet database (`helpdesk migrate` first):
live subscribers would replay every CREATED event written here.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models import Category, Counter, Role, Ticket, TicketStatus, User
from services.events import transaction_id_first
from services.ticket_changes import TICKET_NUMBER
from services.validation import search_key

BATCH = 5_000
COPY_BATCH = 20_000
HISTORY_DAYS = 730
CUSTOMER_PREFIX = "demo-customer-"
AGENT_PREFIX = "demo-agent-"

S = TicketStatus

# --- the phrase bank ---------------------------------------------------------------------------
# Per category and language: first lines (the summary), details, and closings. `{n}`, `{code}`,
# `{month}`, `{amount}` are filled in per ticket.

RU, EN = "ru", "en"

FIRST_LINES: dict[str, dict[str, list[str]]] = {
    "app-help": {
        RU: [
            "Как добавить сотрудника в личный кабинет?",
            "Не могу найти настройки уведомлений",
            "Как выгрузить отчёт по кампании {n} в Excel?",
            "Где поменять пароль и почту для входа?",
            "Как настроить двухфакторную авторизацию?",
            "Как подключить API-ключ к интеграции?",
            "Не понимаю, как работает фильтр по датам в отчётах",
            "Как передать доступ к проекту {n} коллеге?",
        ],
        EN: [
            "How do I add a teammate to the dashboard?",
            "Cannot find the notification settings",
            "How to export the report for campaign {n} to Excel?",
            "Where can I change my login email and password?",
            "How do I enable two-factor authentication?",
            "How to connect an API key to the integration?",
            "The date filter in reports is confusing",
        ],
    },
    "system-errors": {
        RU: [
            "Ошибка {code} при сохранении кампании {n}",
            "Страница отчётов не загружается, белый экран",
            "После обновления не работает выгрузка",
            "Ошибка при оплате картой, деньги списались",
            "Не приходит письмо для восстановления пароля",
            "Интеграция возвращает ошибку {code}",
            "Дашборд показывает нули вместо данных",
            "Приложение зависает при загрузке файла",
        ],
        EN: [
            "Error {code} when saving campaign {n}",
            "The reports page does not load, blank screen",
            "Export broken after the latest update",
            "Card payment failed but the money was charged",
            "Password reset email never arrives",
            "The integration returns error {code}",
            "Dashboard shows zeros instead of data",
        ],
    },
    "metric-billing": {
        RU: [
            "Как настроить тарификацию по кликам?",
            "Неверная тарификация метрики за {month}",
            "Запрос тарификации метрики конверсий для кампании {n}",
            "Почему тарификация показов выросла в {month}?",
            "Прошу пересчитать тарификацию метрики за {month}",
            "Нужна тарификация по целевым действиям",
        ],
        EN: [
            "How to set up per-click billing?",
            "Wrong metric billing for {month}",
            "Metric billing request for conversions in campaign {n}",
            "Why did impression billing go up in {month}?",
            "Please recalculate the metric billing for {month}",
        ],
    },
    "other": {
        RU: [
            "Нужен акт сверки за {month}",
            "Прошу выставить счёт на {amount} руб.",
            "Не пришли закрывающие документы за {month}",
            "Как изменить реквизиты компании в договоре?",
            "Нужна копия договора и счёта-фактуры",
            "Вопрос по возврату средств на счёт",
        ],
        EN: [
            "Need a reconciliation statement for {month}",
            "Please issue an invoice for {amount} EUR",
            "Closing documents for {month} are missing",
            "How do I change the company details in the contract?",
            "Need a copy of the contract and the VAT invoice",
        ],
    },
}

DETAILS: dict[str, list[str]] = {
    RU: [
        "Проблема повторяется каждый день с утра.",
        "Пробовал в Chrome и Firefox, результат одинаковый.",
        "Скриншот приложу следующим сообщением.",
        "Это срочно, у нас завтра отчётность.",
        "Раньше всё работало без ошибок.",
        "Аккаунт {n}, менеджер в курсе.",
        "Подскажите, пожалуйста, что мы делаем не так.",
        "Сумма в счёте не совпадает с отчётом на {amount} руб.",
    ],
    EN: [
        "It happens every morning.",
        "Tried Chrome and Firefox, same result.",
        "I will attach a screenshot in the next message.",
        "This is urgent, our reporting is due tomorrow.",
        "It used to work without errors.",
        "Account {n}, our manager knows about it.",
        "Please tell us what we are doing wrong.",
        "The invoice differs from the report by {amount} EUR.",
    ],
}

CLOSINGS: dict[str, list[str]] = {
    RU: ["Спасибо!", "Заранее спасибо.", "С уважением, отдел маркетинга.", ""],
    EN: ["Thanks!", "Thank you in advance.", "Best regards, marketing team.", ""],
}

REJECTION_REASONS: dict[str, list[str]] = {
    RU: [
        "Дубликат обращения, ответ дан в предыдущем тикете.",
        "Вопрос не относится к работе сервиса.",
        "Недостаточно данных, создайте новое обращение со скриншотом.",
    ],
    EN: [
        "Duplicate of an earlier ticket, answered there.",
        "The question is not about the service.",
        "Not enough details; please open a new ticket with a screenshot.",
    ],
}

MONTHS: dict[str, list[str]] = {
    RU: [
        "январь",
        "февраль",
        "март",
        "апрель",
        "май",
        "июнь",
        "июль",
        "август",
        "сентябрь",
        "октябрь",
        "ноябрь",
        "декабрь",
    ],
    EN: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}

ERROR_CODES = ["500", "502", "403", "E-1042", "TIMEOUT", "429", "E-2210"]

FIRST_NAMES = ["Анна", "Иван", "Мария", "Дмитрий", "Ольга", "Alex", "Emma", "John", "Sofia"]
LAST_NAMES = ["Иванова", "Петров", "Смирнова", "Кузнецов", "Smith", "Brown", "Garcia", "Meyer"]

# Leaf slugs and their shares of the traffic.
CATEGORY_WEIGHTS = {"app-help": 35, "system-errors": 30, "metric-billing": 20, "other": 15}

# Status shares by age: fresh tickets are still in work, the old ones are almost all final.
_STATUS_ORDER = (S.OPEN, S.IN_PROGRESS, S.AWAITING_REPLY, S.CLOSED, S.REJECTED)
_STATUS_BY_AGE: list[tuple[float, tuple[float, ...]]] = [
    (3, (40, 30, 15, 12, 3)),
    (30, (5, 10, 8, 72, 5)),
    (float("inf"), (0.3, 0.5, 1.0, 93.2, 5.0)),
]


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    owner_id: str
    category_id: int
    summary: str
    question: str
    search_text: str
    urgent: bool
    status: TicketStatus
    rejection_reason: str | None
    assignee_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


COPY_COLUMNS = [
    "number",
    "owner_id",
    "category_id",
    "summary",
    "question",
    "search_text",
    "urgent",
    "status",
    "rejection_reason",
    "assignee_id",
    "version",
    "created_at",
    "updated_at",
    "closed_at",
]


def customer_id(index: int) -> str:
    return f"{CUSTOMER_PREFIX}{index:05d}"


def agent_id(index: int) -> str:
    return f"{AGENT_PREFIX}{index:03d}"


async def seed_demo(
    *, tickets: int, customers: int = 2_000, agents: int = 30, seed: int = 0
) -> int:
    """Add `tickets` demo tickets (and the demo users, if missing); returns how many were added.

    Deterministic for a given seed, apart from the dates, which end now. Each batch is one
    transaction that takes its numbers from the counter, so a failure leaves whole batches and
    a counter that matches them. Requires a migrated database.
    """
    if tickets < 0 or customers < 1 or agents < 1:
        raise ValueError("tickets must be >= 0, customers and agents >= 1")
    rng = random.Random(seed)
    await _ensure_users(rng, customers, agents)
    if tickets == 0:
        return 0
    leaves = dict(await Category.filter(slug__in=list(CATEGORY_WEIGHTS)).values_list("slug", "id"))
    if len(leaves) != len(CATEGORY_WEIGHTS):
        raise RuntimeError("categories are missing: run `helpdesk migrate` first")

    now = datetime.now(UTC).replace(microsecond=0)
    # Creation instants, oldest first, denser towards now (the service grows).
    span = HISTORY_DAYS * 86_400
    offsets = sorted(span * (1 - rng.random() ** 0.7) for _ in range(tickets))
    offsets.reverse()
    # Customers by a Zipf-like law: a few large accounts write most of the tickets.
    owner_weights = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(customers)))
    make = _row_factory(rng, now, leaves, owner_weights, agents)

    connection = connections.get("default")
    use_copy = connection.capabilities.dialect == "postgres" and _is_asyncpg(connection)
    batch = COPY_BATCH if use_copy else BATCH
    written = 0
    for start in range(0, tickets, batch):
        chunk = offsets[start : start + batch]
        async with in_transaction() as tx:
            await (
                Counter.filter(name=TICKET_NUMBER)
                .using_db(tx)
                .update(value=F("value") + len(chunk))
            )
            last = (await Counter.get(name=TICKET_NUMBER, using_db=tx)).value
            first = last - len(chunk) + 1
            rows = [make(first + i, now - timedelta(seconds=s)) for i, s in enumerate(chunk)]
            if use_copy:
                await _copy_tickets(tx, rows)
            else:
                await Ticket.bulk_create(
                    [Ticket(**_as_dict(row)) for row in rows], batch_size=batch, using_db=tx
                )
            await _created_events(tx, first, last)
        written += len(chunk)
    return written


def _is_asyncpg(connection: BaseDBAsyncClient) -> bool:
    from tortoise.backends.asyncpg.client import AsyncpgDBClient

    return isinstance(connection, AsyncpgDBClient)


async def _ensure_users(rng: random.Random, customers: int, agents: int) -> None:
    people = [
        User(id=customer_id(i), name=_person(rng), role=Role.CUSTOMER) for i in range(customers)
    ]
    people += [User(id=agent_id(i), name=_person(rng), role=Role.AGENT) for i in range(agents)]
    await User.bulk_create(people, batch_size=BATCH, ignore_conflicts=True)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _row_factory(
    rng: random.Random,
    now: datetime,
    leaves: dict[str, int],
    owner_weights: Sequence[float],
    agents: int,
) -> Callable[[int, datetime], _Row]:
    slugs = list(CATEGORY_WEIGHTS)
    slug_weights = list(itertools.accumulate(CATEGORY_WEIGHTS.values()))
    status_weights = [(days, list(itertools.accumulate(shares))) for days, shares in _STATUS_BY_AGE]
    total_owner = owner_weights[-1]
    choice, rand = rng.choice, rng.random

    def pick(cumulative: Sequence[float]) -> int:
        return bisect.bisect_right(cumulative, rand() * cumulative[-1])

    def fill(template: str, lang: str) -> str:
        if "{" not in template:
            return template
        return template.format(
            n=rng.randint(1000, 99_999),
            code=choice(ERROR_CODES),
            month=choice(MONTHS[lang]),
            amount=rng.randint(1, 500) * 100,
        )

    def make(number: int, created_at: datetime) -> _Row:
        slug = slugs[pick(slug_weights)]
        lang = RU if rand() < 0.65 else EN
        summary = fill(choice(FIRST_LINES[slug][lang]), lang)
        details = [fill(choice(DETAILS[lang]), lang) for _ in range(1 + (rand() < 0.4))]
        closing = choice(CLOSINGS[lang])
        question = "\n".join([summary, " ".join(details), closing]).rstrip()
        owner = customer_id(
            min(bisect.bisect_right(owner_weights, rand() * total_owner), len(owner_weights) - 1)
        )

        age_days = (now - created_at).total_seconds() / 86_400
        shares = next(w for days, w in status_weights if age_days < days)
        status = _STATUS_ORDER[min(pick(shares), len(_STATUS_ORDER) - 1)]
        assignee: str | None = agent_id(rng.randrange(agents))
        rejection_reason = None
        closed_at = None
        if status is S.OPEN:
            assignee, version, updated_at = None, 1, created_at
        else:
            worked = timedelta(hours=rng.expovariate(1 / 30))
            updated_at = min(created_at + worked, now)
            if status is S.IN_PROGRESS:
                version = rng.randint(2, 4)
            elif status is S.AWAITING_REPLY:
                version = rng.randint(3, 6)
            else:
                closed_at = updated_at
                # Withdrawn by the owner or closed/rejected by an agent straight from OPEN.
                from_open = rand() < (0.15 if status is S.CLOSED else 0.5)
                version = 2 if from_open else rng.randint(3, 8)
                if from_open:
                    assignee = None
                if status is S.REJECTED:
                    rejection_reason = choice(REJECTION_REASONS[lang])
        return _Row(
            number=number,
            owner_id=owner,
            category_id=leaves[slug],
            summary=summary,
            question=question,
            search_text=search_key(summary, question),
            urgent=rand() < 0.1,
            status=status,
            rejection_reason=rejection_reason,
            assignee_id=assignee,
            version=version,
            created_at=created_at,
            updated_at=updated_at,
            closed_at=closed_at,
        )

    return make


def _as_dict(row: _Row) -> dict[str, Any]:
    return {name: getattr(row, name) for name in COPY_COLUMNS}


async def _copy_tickets(tx: BaseDBAsyncClient, rows: list[_Row]) -> None:
    records = [
        (
            r.number,
            r.owner_id,
            r.category_id,
            r.summary,
            r.question,
            r.search_text,
            r.urgent,
            r.status.value,
            r.rejection_reason,
            r.assignee_id,
            r.version,
            r.created_at,
            r.updated_at,
            r.closed_at,
        )
        for r in rows
    ]
    async with tx.acquire_connection() as raw:
        await raw.copy_records_to_table("tickets", records=records, columns=COPY_COLUMNS)


async def _created_events(tx: BaseDBAsyncClient, first: int, last: int) -> None:
    """One CREATED event per ticket of the batch, written by the database from the rows."""
    await transaction_id_first(tx)  # before the event ids are drawn (see services.events)
    await tx.execute_script(
        "INSERT INTO ticket_events (ticket_id, kind, actor_id, at, to_status, to_category_id,"
        " internal)"
        f" SELECT id, 'CREATED', owner_id, created_at, 'OPEN', category_id, {_false(tx)}"
        f" FROM tickets WHERE number BETWEEN {int(first)} AND {int(last)} ORDER BY id"
    )


def _false(tx: BaseDBAsyncClient) -> str:
    return "FALSE" if tx.capabilities.dialect == "postgres" else "0"
