"""Settings from the environment, the `helpdesk` command, and where our packages come from."""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import structlog

from models import Role, db
from server import auth, cli
from server.app import create_app
from server.config import DEFAULT_DATABASE_URL, DEV_JWT_SECRET, ConfigError, Settings
from tests.conftest import REPO, TEST_SECRET

POSTGRES_URL = "postgres://helpdesk@db.internal:5432/helpdesk"
SECRET_40 = "s" * 40


def production(**values: str) -> dict[str, str]:
    env = {
        "HELPDESK_ENV": "production",
        "HELPDESK_DATABASE_URL": POSTGRES_URL,
        "HELPDESK_JWT_SECRET": SECRET_40,
    }
    env.update(values)
    return env


# Settings ---------------------------------------------------------------------------------------


def test_embedded_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.env == "development"
    assert not settings.production
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.database_url.startswith("sqlite://")
    assert settings.broker_url == "memory://"
    assert settings.port == 8000
    assert settings.host == "127.0.0.1"
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.graphiql is True
    assert settings.log_level == "INFO"


def test_values_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "HELPDESK_DATABASE_URL": POSTGRES_URL,
            "HELPDESK_BROKER_URL": "redis://cache:6379/1",
            "HELPDESK_JWT_SECRET": TEST_SECRET,
            "HELPDESK_HOST": "0.0.0.0",
            "HELPDESK_PORT": "9001",
            "HELPDESK_GRAPHIQL": "off",
            "HELPDESK_LOG_LEVEL": "debug",
        }
    )
    assert settings == Settings(
        env="development",
        database_url=POSTGRES_URL,
        broker_url="redis://cache:6379/1",
        jwt_secret=TEST_SECRET,
        host="0.0.0.0",
        port=9001,
        graphiql=False,
        log_level="DEBUG",
    )


def test_production_accepts_postgres_and_a_long_secret() -> None:
    settings = Settings.from_env(production())
    assert settings.production
    assert settings.database_url == POSTGRES_URL
    assert settings.jwt_secret == SECRET_40


def test_production_accepts_a_secret_of_exactly_32_characters() -> None:
    assert Settings.from_env(production(HELPDESK_JWT_SECRET="k" * 32)).jwt_secret == "k" * 32


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"HELPDESK_ENV": "production"}, id="all-defaults"),
        pytest.param(production(HELPDESK_JWT_SECRET=DEV_JWT_SECRET), id="development-secret"),
        pytest.param(production(HELPDESK_JWT_SECRET="k" * 31), id="short-secret"),
        pytest.param(production(HELPDESK_JWT_SECRET=""), id="empty-secret"),
        pytest.param(
            {k: v for k, v in production().items() if k != "HELPDESK_JWT_SECRET"},
            id="secret-unset",
        ),
        pytest.param(production(HELPDESK_DATABASE_URL="sqlite://data/x.db"), id="sqlite"),
        pytest.param(
            {k: v for k, v in production().items() if k != "HELPDESK_DATABASE_URL"},
            id="database-unset",
        ),
    ],
)
def test_production_refuses_development_defaults(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_the_app_factory_checks_settings_too() -> None:
    """Settings built in code (not from the environment) cannot bypass the production check."""
    with pytest.raises(ConfigError):
        create_app(Settings(env="production"))
    with pytest.raises(ConfigError):
        create_app(Settings(env="production", database_url=POSTGRES_URL, jwt_secret="short"))


def test_graphiql_defaults_off_in_production_and_on_in_development() -> None:
    assert Settings.from_env(production()).graphiql is False
    assert Settings.from_env({"HELPDESK_ENV": "development"}).graphiql is True
    assert Settings.from_env(production(HELPDESK_GRAPHIQL="yes")).graphiql is True
    assert Settings.from_env({"HELPDESK_GRAPHIQL": "0"}).graphiql is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HELPDESK_PORT", "eighty"),
        ("HELPDESK_PORT", ""),
        ("HELPDESK_PORT", "8000.5"),
        ("HELPDESK_PORT", "-1"),
        ("HELPDESK_PORT", "65536"),
        ("HELPDESK_PORT", "70000"),
        ("HELPDESK_ENV", "staging"),
        ("HELPDESK_ENV", "PRODUCTION"),
        ("HELPDESK_ENV", ""),
        ("HELPDESK_GRAPHIQL", "maybe"),
        ("HELPDESK_GRAPHIQL", ""),
        ("HELPDESK_LOG_LEVEL", "verbose"),
        ("HELPDESK_LOG_LEVEL", ""),
        ("HELPDESK_PUBLIC_MAX_AGE", "-1"),
        ("HELPDESK_PUBLIC_MAX_AGE", "a minute"),
        ("HELPDESK_RATING_DAYS", "3651"),
        ("HELPDESK_RATING_DAYS", "1000000000"),
    ],
)
def test_bad_values_are_config_errors(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({name: value})


@pytest.mark.parametrize("value", ["0", "65535", " 8080 "])
def test_port_bounds_are_accepted(value: str) -> None:
    assert Settings.from_env({"HELPDESK_PORT": value}).port == int(value)


# The command ------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No HELPDESK_* variables, and the process-wide logging left as the command found it."""
    for name in list(os.environ):
        if name.startswith("HELPDESK_"):
            monkeypatch.delenv(name)
    root, tortoise = logging.getLogger(), logging.getLogger("tortoise")
    handlers, level, tortoise_level = list(root.handlers), root.level, tortoise.level
    structlog_config = structlog.get_config()
    try:
        yield monkeypatch
    finally:
        # `main` configures logging onto the captured stderr, which capsys closes after the test.
        root.handlers[:] = handlers
        root.setLevel(level)
        tortoise.setLevel(tortoise_level)
        structlog.configure(**structlog_config)


def test_token_command_signs_with_the_development_secret(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["token", "--sub", "u1", "--role", "agent"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    token = out.strip()
    claims = auth.decode(token, DEV_JWT_SECRET)
    payload = jwt.decode(token, DEV_JWT_SECRET, algorithms=[auth.ALGORITHM])
    assert claims == auth.Claims(sub="u1", name="u1", role=Role.AGENT, expires_at=payload["exp"])
    assert abs(payload["exp"] - (time.time() + 86_400)) < 60
    with pytest.raises(auth.InvalidToken):
        auth.decode(token, TEST_SECRET)


def test_token_command_uses_the_configured_secret(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("HELPDESK_JWT_SECRET", TEST_SECRET)
    assert (
        cli.main(["token", "--sub", "a1", "--role", "admin", "--name", "Ann", "--ttl", "60"]) == 0
    )
    token = capsys.readouterr().out.strip()
    claims = auth.decode(token, TEST_SECRET)
    assert (claims.sub, claims.name, claims.role) == ("a1", "Ann", Role.ADMIN)
    assert abs(claims.expires_at - (time.time() + 60)) < 30
    payload = jwt.decode(token, TEST_SECRET, algorithms=[auth.ALGORITHM])
    assert payload["exp"] - payload["iat"] == 60
    with pytest.raises(auth.InvalidToken):
        auth.decode(token, DEV_JWT_SECRET)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HELPDESK_PORT", "eighty"),
        ("HELPDESK_LOG_LEVEL", "verbose"),
        ("HELPDESK_ENV", "staging"),
        ("HELPDESK_ENV", "production"),
    ],
)
def test_command_reports_configuration_errors(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    clean_env.setenv(name, value)
    assert cli.main(["token", "--sub", "u1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "configuration error" in captured.err
    assert "HELPDESK_" in captured.err


def test_schema_graphql_is_in_sync(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    output = tmp_path / "s.graphql"
    assert cli.main(["export-schema", "--output", str(output)]) == 0
    exported = output.read_text(encoding="utf-8")
    assert "type Query" in exported
    checked_in = (REPO / "schema.graphql").read_text(encoding="utf-8")
    assert exported == checked_in, "schema.graphql is out of date: run `make schema`"


# Packages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "schema",
        "models",
        "services",
        "resolvers",
        "server",
        "pubsub",
    ],
)
def test_package_is_imported_from_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None, f"{name} is a namespace package: {module.__path__}"
    path = Path(module.__file__).resolve()
    assert path == REPO.resolve() / name / "__init__.py", (
        f"`import {name}` resolves to {path}, outside {REPO}"
    )


def test_postgres_pool_defaults_and_release() -> None:
    """A pool of 20 unless the URL says otherwise; release ends the transaction and sends no
    session reset (the app keeps no session state)."""
    config = db.tortoise_config("postgres://app@db:5432/helpdesk")["connections"]["default"]
    assert config["engine"] == "tortoise.backends.asyncpg"
    assert config["credentials"]["maxsize"] == 20
    assert config["credentials"]["reset"] is db._keep_session
    sized = db.tortoise_config("postgres://app@db:5432/helpdesk?maxsize=50")["connections"]
    assert sized["default"]["credentials"]["maxsize"] == "50"
