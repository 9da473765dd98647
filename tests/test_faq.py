"""The public FAQ through the HTTP API."""

from __future__ import annotations

from tests.conftest import Api
from tests.workflow import (
    FAQ,
)

# --- faq -----------------------------------------------------------------------------------


async def test_faq_is_public_with_four_questions_and_four_tips(api: Api) -> None:
    entries = (await api.gql(FAQ))["faq"]
    assert [e["kind"] for e in entries].count("FAQ") == 4
    assert [e["kind"] for e in entries].count("TIP") == 4
    assert len({e["slug"] for e in entries}) == 8
    for entry in entries:
        assert entry["question"] == entry["questionRu"]
        assert entry["en"] == entry["questionEn"]
        assert entry["answer"] == entry["answerRu"]
        assert entry["answerEn2"] == entry["answerEn"]
        assert entry["questionEn"] != entry["questionRu"]
        assert entry["answerEn"] and entry["answerRu"]

    for kind in ("FAQ", "TIP"):
        only = (await api.gql(FAQ, {"kind": kind}))["faq"]
        assert [e["slug"] for e in only] == [e["slug"] for e in entries if e["kind"] == kind]
        assert len(only) == 4


async def test_faq_on_changing_a_category_names_the_three_stages(api: Api) -> None:
    entries = (await api.gql(FAQ, {"kind": "FAQ"}))["faq"]
    [entry] = [e for e in entries if e["slug"] == "change-category"]
    assert entry["en"] == "Can the category of a ticket be changed?"
    for stage in ("Before processing", "During processing", "After closure"):
        assert stage in entry["answerEn"]
    for stage in ("До обработки", "Во время обработки", "После закрытия"):
        assert stage in entry["answerRu"]
