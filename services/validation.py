"""Limits on free text, checked before anything is written."""

from __future__ import annotations

import unicodedata

from services.errors import ErrorCode, FieldError

QUESTION_MAX = 10_000
SUMMARY_MAX = 200
SUMMARY_DERIVED_MAX = 120
BODY_MAX = 10_000
SEARCH_MAX = 200
CLIENT_MUTATION_ID_MAX = 128
ID_MAX_DIGITS = 18  # below 2**63: every id fits a BIGINT


def as_id(value: str | None) -> int | None:
    """Ids are positive ASCII decimal integers; anything else names nothing."""
    if value is None or not (value.isascii() and value.isdigit()) or len(value) > ID_MAX_DIGITS:
        return None
    return int(value)


def has_nul(value: str) -> bool:
    """U+0000 cannot be stored (PostgreSQL text) nor name anything."""
    return "\x00" in value


# Controls, format characters (zero-width spaces, direction marks, BOM), separators: none of
# them shows anything on their own.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})


def is_blank(text: str) -> bool:
    """True when nothing in the text would be visible: only whitespace, controls, format
    characters such as U+200B, U+202E and U+FEFF, or separators."""
    return all(unicodedata.category(ch) in INVISIBLE_CATEGORIES for ch in text)


def clean_text(
    value: str | None, *, field: str, max_length: int, errors: list[FieldError], required: bool
) -> str | None:
    """Strip the text; report it empty (when required) or too long into `errors`."""
    if value is None:
        if required:
            errors.append(FieldError(ErrorCode.VALIDATION, f"{field} is required.", field))
        return None
    text = value.strip()
    if is_blank(text):
        errors.append(FieldError(ErrorCode.VALIDATION, f"{field} must not be empty.", field))
        return None
    if has_nul(text):
        errors.append(FieldError(ErrorCode.VALIDATION, f"{field} contains a NUL character.", field))
        return None
    if len(text) > max_length:
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"{field} is {len(text)} characters long; the limit is {max_length}.",
                field,
            )
        )
        return None
    return text


def check_client_mutation_id(value: str | None, errors: list[FieldError]) -> None:
    if value is not None and (not 1 <= len(value) <= CLIENT_MUTATION_ID_MAX or has_nul(value)):
        errors.append(
            FieldError(
                ErrorCode.VALIDATION,
                f"clientMutationId must be 1 to {CLIENT_MUTATION_ID_MAX} printable characters.",
                "clientMutationId",
            )
        )


def derive_summary(question: str) -> str:
    """The first line of the question, shortened on a word boundary."""
    line = question.splitlines()[0].strip() if question else ""
    if len(line) <= SUMMARY_DERIVED_MAX:
        return line
    cut = line[: SUMMARY_DERIVED_MAX - 1]
    space = cut.rfind(" ")
    if space > SUMMARY_DERIVED_MAX // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def search_key(*parts: str) -> str:
    """Case-folded text that a LIKE without collation can search in any script."""
    return "\n".join(parts).casefold()
