"""The category tree: sections, and question types inside the sections that have them."""

from __future__ import annotations

from collections.abc import Sequence

from models import Category
from services.errors import BadRequest, ErrorCode, UserInputError
from services.validation import as_slug


async def list_categories() -> list[Category]:
    """Every category, sections and question types, in display order."""
    return await Category.all().order_by("position", "id")


async def get_categories(*, ids: Sequence[int]) -> dict[int, Category]:
    return {c.id: c for c in await Category.filter(id__in=list(set(ids)))}


async def resolve_leaf(*, slug: str, field: str = "categorySlug") -> Category:
    """A ticket needs a leaf: a section without question types, or a question type.

    A section that has question types (Documents / Finance) is refused with
    CATEGORY_REQUIRES_SUBTYPE, naming the types to choose from.
    """
    category = None if as_slug(slug) is None else await Category.get_or_none(slug=slug)
    if category is None:
        raise UserInputError(ErrorCode.UNKNOWN_CATEGORY, f"Unknown category {slug!r}.", field)
    children = await Category.filter(parent_id=category.id).order_by("position")
    if children:
        choices = ", ".join(f"{c.slug!r} ({c.name_en})" for c in children)
        raise UserInputError(
            ErrorCode.CATEGORY_REQUIRES_SUBTYPE,
            f"Section {category.name_en!r} needs a question type: one of {choices}.",
            field,
        )
    return category


async def category_ids_under(*, slug: str) -> list[int]:
    """The category and its children (a section includes its question types), for a filter by
    category; an unknown slug is a bad request."""
    category = None if as_slug(slug) is None else await Category.get_or_none(slug=slug)
    if category is None:
        raise BadRequest(f"Unknown category {slug!r}.", ErrorCode.UNKNOWN_CATEGORY)
    children = await Category.filter(parent_id=category.id)
    return [category.id, *(c.id for c in children)]
