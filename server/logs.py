"""Structured logs: one JSON object per line on stderr, ours and the libraries' alike.

Logs never hold a secret. Tracebacks carry frames without their local variables (those held
the caller's token, the request headers and the settings), and every line passes through
`redact` before it is written: Authorization headers, bearer tokens, anything JWT-shaped,
passwords in URLs, secret-named keys and the configured secrets themselves are replaced.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import structlog
from structlog.tracebacks import ExceptionDictTransformer

REDACTED = "[REDACTED]"
# Keys whose values are secrets wherever they appear in a log line (case-insensitive, exact).
SECRET_KEYS = frozenset(
    {"authorization", "jwt_secret", "secret", "password", "token", "cookie", "set-cookie"}
)
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A JWT: three base64url segments, the first a JSON object ("eyJ" is `{"`).
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[^\s'\",}]+"), rf"\1 {REDACTED}"),
    # scheme://user:password@host
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"]*@"), rf"\1{REDACTED}@"),
    # The repr of a settings-like object: jwt_secret='…', password="…"
    (
        re.compile(
            r"(?i)\b((?:jwt_)?secret|password|authorization)(['\"]?\s*[=:]\s*)(['\"])(.*?)\3"
        ),
        rf"\1\2\3{REDACTED}\3",
    ),
)
# Frames without locals; deep recursions are cut to their ends.
TRACEBACKS = structlog.processors.ExceptionRenderer(
    ExceptionDictTransformer(show_locals=False, max_frames=20)
)


class Redactor:
    """A structlog processor replacing secrets in every value of the event, nested or not."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Only values long enough not to match ordinary words are replaced literally.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
        return {key: self.value(key, value) for key, value in event.items()}

    def value(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and key.lower() in SECRET_KEYS and value:
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(None, v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(repr(value))  # anything else is logged as its (redacted) text

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in SECRET_PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def url_password(url: str) -> str | None:
    """The password of a URL such as postgres://user:password@host/db, if it has one."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def configure(level: str = "INFO", secrets: Iterable[str | None] = ()) -> None:
    """JSON lines on stderr; `secrets` (the JWT secret, passwords) never appear in them."""
    redact = Redactor(s for s in secrets if s)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            TRACEBACKS,
            redact,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Connection open/close chatter is not an operation.
    logging.getLogger("tortoise").setLevel(max(logging.WARNING, root.level))
