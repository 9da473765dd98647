"""The category tree: seeded data, public, idempotent seeding."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.conftest import REPO, Api, Backend

TREE = """
{ categories { slug nameRu nameEn name(locale: EN) selectable parent { slug }
  children { slug nameRu nameEn selectable parent { slug } } } }
"""

EXPECTED = [
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


def shape(categories: list[dict]) -> list[tuple]:
    return [
        (
            c["slug"],
            c["nameRu"],
            c["nameEn"],
            [(k["slug"], k["nameRu"], k["nameEn"]) for k in c["children"]],
        )
        for c in categories
    ]


async def test_categories_are_public_and_seeded(api: Api) -> None:
    data = await api.gql(TREE)
    assert shape(data["categories"]) == EXPECTED
    sections = {c["slug"]: c for c in data["categories"]}
    assert sections["app-help"]["selectable"] is True
    assert sections["documents-finance"]["selectable"] is False
    assert sections["documents-finance"]["name"] == "Documents / Finance"
    assert all(
        k["selectable"] and k["parent"] == {"slug": "documents-finance"}
        for k in sections["documents-finance"]["children"]
    )
    assert sections["app-help"]["parent"] is None


async def test_migrate_is_idempotent(api: Api, backend: Backend) -> None:
    env = {**os.environ, "HELPDESK_DATABASE_URL": backend.database_url}
    for _ in range(2):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "migrate",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output.decode()
    data = await api.gql(TREE)
    assert shape(data["categories"]) == EXPECTED


async def test_ticket_category_resolves_its_section(api: Api) -> None:
    query = """mutation { createTicket(input: {categorySlug: "other", question: "Q"}) {
      ticket { category { slug name parent { slug name(locale: EN) } } } } }"""
    data = await api.gql(query, as_="ann")
    assert data["createTicket"]["ticket"]["category"] == {
        "slug": "other",
        "name": "Иное",
        "parent": {"slug": "documents-finance", "name": "Documents / Finance"},
    }
