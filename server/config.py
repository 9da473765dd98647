"""One typed settings object, read from HELPDESK_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from schema.sizes import ATTACHMENTS, PRESENCE

# Development-only secret: lets `make run` work out of the box; production refuses it.
DEV_JWT_SECRET = "dev-only-insecure-secret-do-not-use-in-production"
DEFAULT_DATABASE_URL = "sqlite://data/helpdesk.sqlite3"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RATING_DAYS_MAX = 3650  # a rating window of ten years at most (dates stay in range)


class ConfigError(ValueError):
    pass


def _bool(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    zero_means_off: bool = False,
    most: int | None = None,
) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer") from exc
    if value < 0 or (value == 0 and not zero_means_off):
        raise ConfigError(f"{name} must be positive" + (" or 0 (off)" if zero_means_off else ""))
    if most is not None and value > most:
        raise ConfigError(f"{name} must be at most {most}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds") from exc
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name} must be positive")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"HELPDESK_CORS_ORIGINS: {origin!r} is not an http(s) origin or *")
    return origins


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "[REDACTED]"
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}[REDACTED]@{host}"))


@dataclass(frozen=True, slots=True)
class Settings:
    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str = "memory://"
    jwt_secret: str = DEV_JWT_SECRET
    host: str = "127.0.0.1"
    port: int = 8000
    graphiql: bool = True
    introspection: bool = True
    log_level: str = "INFO"
    data_dir: str = "data"
    web_dir: str = "web"  # the browser pages' folder: templates, scripts, pinned npm files
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachments_per_message: int = 10
    attachment_quota_bytes: int = 200 * 1024 * 1024
    upload_ttl_hours: float = 24.0
    max_depth: int = 10
    max_aliases: int = 30
    max_root_fields: int = 20
    max_tokens: int = 2000
    max_query_chars: int = 20_000
    max_body_bytes: int = 1024 * 1024
    max_nodes: int = 10_000
    operation_timeout: float = 10.0
    max_response_bytes: int = 10 * 1024 * 1024
    max_batch: int = 0  # operations per batched request; 0 turns batching off
    max_subscriptions: int = 100  # per WebSocket, and HTTP streams per viewer
    rate_limit_per_minute: int = 120  # mutations per user; 0 turns the limit off
    rate_limit_burst: int = 30
    rate_limit_url: str | None = None  # memory:// or redis://; defaults to the broker's URL
    redis_timeout_ms: int = 250  # the longest a Redis command may take (broker, rate limit)
    redis_cooldown_ms: int = 5000  # Redis left alone after a timeout, then probed again
    cors_origins: tuple[str, ...] = ()
    persisted_queries: int = 1000  # APQ cache entries; 0 turns persisted queries off
    public_max_age: int = 60  # seconds caches may keep answers of public fields without asking
    read_timeout: int = 10  # seconds for a request's headers, and the start of its body
    image_decode_concurrency: int = 2  # images decoded at once, each within image_max_pixels
    image_max_pixels: int = 40_000_000
    shutdown_timeout: float = 10.0  # seconds in-flight requests get after SIGTERM
    rating_days: int = 7  # days after closing that the owner may rate a ticket
    sla_scan_seconds: float = 1.0  # how often each process looks for passed SLA due times
    presence_heartbeat_seconds: float = 30.0  # a viewer of a dead process lapses within this
    typing_seconds: float = 5.0  # how long one reportTyping shows its author typing
    presence_per_ticket: int = 50  # presence sessions one ticket holds
    presence_per_user: int = 20  # presence sessions one user holds, on all tickets

    def __repr__(self) -> str:
        """Every setting but the secrets: the JWT secret and URL passwords are redacted."""
        shown = []
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "jwt_secret":
                value = "[REDACTED]"
            elif isinstance(value, str) and "://" in value:
                value = _without_password(value)
            shown.append(f"{name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        mode = env.get("HELPDESK_ENV", "development")
        if mode not in {"development", "production"}:
            raise ConfigError("HELPDESK_ENV must be development or production")
        try:
            port = int(env.get("HELPDESK_PORT", "8000"))
        except ValueError as exc:
            raise ConfigError("HELPDESK_PORT must be an integer") from exc
        if not 0 <= port <= 65535:
            raise ConfigError("HELPDESK_PORT must be between 0 and 65535")
        log_level = env.get("HELPDESK_LOG_LEVEL", "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"HELPDESK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        settings = cls(
            env=mode,
            database_url=env.get("HELPDESK_DATABASE_URL", DEFAULT_DATABASE_URL),
            broker_url=env.get("HELPDESK_BROKER_URL", "memory://"),
            jwt_secret=env.get("HELPDESK_JWT_SECRET", DEV_JWT_SECRET),
            host=env.get("HELPDESK_HOST", "127.0.0.1"),
            port=port,
            graphiql=_bool(
                env.get("HELPDESK_GRAPHIQL", "false" if mode == "production" else "true")
            ),
            introspection=_bool(env.get("HELPDESK_INTROSPECTION", "true")),
            log_level=log_level,
            data_dir=env.get("HELPDESK_DATA_DIR", "data"),
            web_dir=env.get("HELPDESK_WEB_DIR", "web"),
            attachment_max_bytes=_int(env, "HELPDESK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
            attachments_per_message=_int(env, "HELPDESK_ATTACHMENTS_PER_MESSAGE", 10),
            attachment_quota_bytes=_int(env, "HELPDESK_ATTACHMENT_QUOTA_BYTES", 200 * 1024 * 1024),
            upload_ttl_hours=float(_int(env, "HELPDESK_UPLOAD_TTL_HOURS", 24)),
            max_depth=_int(env, "HELPDESK_MAX_DEPTH", 10),
            max_aliases=_int(env, "HELPDESK_MAX_ALIASES", 30),
            max_root_fields=_int(env, "HELPDESK_MAX_ROOT_FIELDS", 20),
            max_tokens=_int(env, "HELPDESK_MAX_TOKENS", 2000),
            max_query_chars=_int(env, "HELPDESK_MAX_QUERY_CHARS", 20_000),
            max_body_bytes=_int(env, "HELPDESK_MAX_BODY_BYTES", 1024 * 1024),
            max_nodes=_int(env, "HELPDESK_MAX_NODES", 10_000),
            operation_timeout=_seconds(env, "HELPDESK_OPERATION_TIMEOUT", 10.0),
            max_response_bytes=_int(env, "HELPDESK_MAX_RESPONSE_BYTES", 10 * 1024 * 1024),
            max_batch=_int(env, "HELPDESK_MAX_BATCH", 0, zero_means_off=True),
            max_subscriptions=_int(env, "HELPDESK_MAX_SUBSCRIPTIONS", 100),
            rate_limit_per_minute=_int(
                env, "HELPDESK_RATE_LIMIT_PER_MINUTE", 120, zero_means_off=True
            ),
            rate_limit_burst=_int(env, "HELPDESK_RATE_LIMIT_BURST", 30),
            rate_limit_url=env.get("HELPDESK_RATE_LIMIT_URL") or None,
            redis_timeout_ms=_int(env, "HELPDESK_REDIS_TIMEOUT_MS", 250),
            redis_cooldown_ms=_int(env, "HELPDESK_REDIS_COOLDOWN_MS", 5000),
            cors_origins=_origins(env.get("HELPDESK_CORS_ORIGINS", "")),
            persisted_queries=_int(env, "HELPDESK_PERSISTED_QUERIES", 1000, zero_means_off=True),
            public_max_age=_int(env, "HELPDESK_PUBLIC_MAX_AGE", 60, zero_means_off=True),
            read_timeout=_int(env, "HELPDESK_READ_TIMEOUT", 10),
            image_decode_concurrency=_int(env, "HELPDESK_IMAGE_DECODE_CONCURRENCY", 2),
            image_max_pixels=_int(env, "HELPDESK_IMAGE_MAX_PIXELS", 40_000_000),
            shutdown_timeout=float(_int(env, "HELPDESK_SHUTDOWN_TIMEOUT", 10, zero_means_off=True)),
            rating_days=_int(env, "HELPDESK_RATING_DAYS", 7, most=RATING_DAYS_MAX),
            sla_scan_seconds=_seconds(env, "HELPDESK_SLA_SCAN_SECONDS", 1.0),
            presence_heartbeat_seconds=_seconds(env, "HELPDESK_PRESENCE_HEARTBEAT_SECONDS", 30.0),
            typing_seconds=_seconds(env, "HELPDESK_TYPING_SECONDS", 5.0),
            presence_per_ticket=_int(env, "HELPDESK_PRESENCE_PER_TICKET", 50),
            presence_per_user=_int(env, "HELPDESK_PRESENCE_PER_USER", 20),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Limits the schema can answer; production never runs on development defaults."""
        if self.attachments_per_message > ATTACHMENTS.maximum:
            raise ConfigError(
                f"HELPDESK_ATTACHMENTS_PER_MESSAGE may be at most {ATTACHMENTS.maximum}, "
                "the files a ticket or message lists"
            )
        if self.presence_per_ticket > PRESENCE.maximum:
            raise ConfigError(
                f"HELPDESK_PRESENCE_PER_TICKET may be at most {PRESENCE.maximum}, "
                "the people a ticket's presence lists"
            )
        if not self.production:
            return
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
            raise ConfigError(
                "production needs HELPDESK_JWT_SECRET set to a random secret of 32+ characters"
            )
        if self.database_url.startswith("sqlite"):
            raise ConfigError("production needs HELPDESK_DATABASE_URL pointing to PostgreSQL")
