"""The container files (Dockerfile, .dockerignore, docker-compose.yml, deploy/haproxy.cfg),
checked without Docker.

Compose interpolation is reproduced here for the forms the file uses, so the app's environment is
fed to the real `Settings.from_env` (it must pass the production checks) and the image's command
to the real `helpdesk` argument parser. The balancer's file is checked by `haproxy -c` when the
binary is installed (Debian's haproxy, the image's version; CI installs it), and read here for what
must agree with the app and the compose file.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from strawberry.http.streaming import (
    MULTIPART_SUBSCRIPTION_HEARTBEAT_INTERVAL,
    SSE_HEARTBEAT_INTERVAL,
)

from bench.balancer import local_config
from server import cli
from server.app import READY_CHECK_SECONDS, create_app
from server.config import DEV_JWT_SECRET, ConfigError, Settings
from tests.conftest import IN_CI, REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
HAPROXY_FILE = REPO / "deploy" / "haproxy.cfg"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# What an operator exports before `docker compose up` (test values, never real ones).
OPERATOR_ENV = {
    "POSTGRES_PASSWORD": "pg-test-password-0123456789",
    "HELPDESK_JWT_SECRET": "jwt-test-secret-" + "z" * 32,
}

# Compose interpolation: $$ (a literal $), $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?message}, ${VAR?message}, ${VAR:+alt}, ${VAR+alt}.
INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)
REQUIRED_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):?\?[^}]*\}")


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["bare"] or match["name"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name, "")
        # `:` in the operator treats an empty value like an unset one.
        present = name in env and (current != "" or not (op or "").startswith(":"))
        if op in ("-", ":-"):
            return current if present else arg
        if op in ("?", ":?"):
            if not present:
                raise MissingVariable(f"{name}: {arg}")
            return current
        if op in ("+", ":+"):
            return arg if present else ""
        return current

    return INTERPOLATION.sub(substitute, value)


def interpolate_all(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_all(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_all(value, env) for key, value in node.items()}
    return node


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, list or mapping form, as a mapping of strings."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in raw.items()}


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), "docker-compose.yml is not a mapping"
    return loaded


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    """The file as compose sees it once the operator has exported the required variables."""
    return interpolate_all(raw_compose, OPERATOR_ENV)


# Dockerfile -------------------------------------------------------------------------------------


def dockerfile_instructions(stage: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of one stage, from its FROM on (the final stage unless
    `stage` names one); continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    starts = [
        i
        for i, (keyword, rest) in enumerate(instructions)
        if keyword == "FROM" and (stage is None or rest.lower().endswith(f" as {stage}"))
    ]
    assert starts, f"no stage {stage}"
    start = starts[-1] if stage is None else starts[0]
    end = next(
        (i for i in range(start + 1, len(instructions)) if instructions[i][0] == "FROM"),
        len(instructions),
    )
    return instructions[start:end]


def instructions_named(name: str) -> list[str]:
    return [rest for keyword, rest in dockerfile_instructions() if keyword == name]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions_named("ENV"):
        for token in shlex.split(rest):
            assert "=" in token, f"ENV {rest!r}: use the KEY=VALUE form"
            key, value = token.split("=", 1)
            env[key] = value
    return env


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def healthcheck_command() -> list[str]:
    (healthcheck,) = instructions_named("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert command, "HEALTHCHECK needs a CMD"
    assert "--interval" in options and "--timeout" in options
    return exec_form(command.strip())


# The `helpdesk` command line --------------------------------------------------------------------


class Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


def parse_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """Run the real `helpdesk` parser on argv and stop right after parsing.

    argparse exits with 2 on an unknown command or option; a valid line reaches the settings,
    where the stub stops `main` before it migrates or serves anything.
    """
    seen: list[argparse.Namespace] = []
    original = argparse.ArgumentParser.parse_args

    def recording(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        namespace = original(self, *args, **kwargs)
        seen.append(namespace)
        return namespace

    class StopSettings:
        @staticmethod
        def from_env(*_: Any, **__: Any) -> Settings:
            raise Parsed(seen[-1])

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", recording)
    monkeypatch.setattr(cli, "Settings", StopSettings)
    with pytest.raises(Parsed) as stopped:
        cli.main(argv)
    return stopped.value.namespace


def helpdesk_arguments(command: list[str]) -> list[str]:
    assert command[0] == "helpdesk", f"{command}: not the helpdesk command"
    assert "helpdesk" in PYPROJECT["project"]["scripts"], "pyproject.toml installs no `helpdesk`"
    return command[1:]


def test_the_cli_stub_refuses_what_argparse_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_cli(["serve", "--no-such-option"], monkeypatch)
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        parse_cli(["no-such-command"], monkeypatch)
    assert exited.value.code == 2


# Dockerfile -------------------------------------------------------------------------------------


def test_the_image_is_python_3_11_slim_as_pyproject_requires() -> None:
    froms = instructions_named("FROM")
    assert froms, "no FROM"
    image = froms[-1].split()[0]
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", image), image
    version = re.search(r"python:(\d+\.\d+(?:\.\d+)?)", image)
    assert version is not None
    assert version[1] in SpecifierSet(PYPROJECT["project"]["requires-python"])


def test_the_image_does_not_run_as_root() -> None:
    users = instructions_named("USER")
    assert users, "the image runs as root: add a USER line"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    keywords = [keyword for keyword, _ in dockerfile_instructions()]
    last_user = max(i for i, keyword in enumerate(keywords) if keyword == "USER")
    assert last_user < keywords.index("CMD"), "USER must come before CMD"


def test_dependencies_install_in_their_own_cached_layer_without_dev_extras() -> None:
    instructions = dockerfile_instructions()
    source_copy = next(
        i for i, (kw, rest) in enumerate(instructions) if kw == "COPY" and rest.startswith(". ")
    )
    before = instructions[:source_copy]
    early_copies = [rest for kw, rest in before if kw == "COPY"]
    assert early_copies, "copy pyproject.toml alone before the source so dependencies cache"
    for rest in early_copies:
        sources = rest.split()[:-1]
        assert all(s.startswith("--") or s == "pyproject.toml" for s in sources), rest
    assert any(kw == "RUN" and "pip install" in rest for kw, rest in before), (
        "install the dependencies before copying the source"
    )
    runs = [rest for kw, rest in instructions if kw == "RUN"]
    assert any(re.search(r"pip install( --\S+)* \.(\s|$)", rest) for rest in runs), (
        "the project itself is installed with `pip install .`"
    )
    assert not any("[dev]" in rest or "optional-dependencies" in rest for rest in runs)


def test_the_dependency_layer_reads_exactly_the_runtime_dependencies(tmp_path: Path) -> None:
    """The RUN line's extraction, executed on this pyproject.toml, lists `dependencies`."""
    layer = next(
        rest
        for kw, rest in dockerfile_instructions()
        if kw == "RUN" and "tomllib" in rest and "pip install" in rest
    )
    # The shell's view of `python -c "..." > FILE`, the first step of the RUN line.
    argv = shlex.split(layer.split("&&")[0])
    assert argv[:2] == ["python", "-c"] and argv[3] == ">", argv
    (tmp_path / "pyproject.toml").write_text(
        (REPO / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    listed = subprocess.run(
        [sys.executable, "-c", argv[2]], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed == PYPROJECT["project"]["dependencies"]


def test_the_image_carries_exactly_the_pinned_browser_files(tmp_path: Path) -> None:
    """The web stage installs from the lockfile and runs web/copy-vendor.mjs; run here, the
    script copies each file web/vendor.json pins, with its pinned hash, and nothing else; the
    final stage puts them where the app looks for them."""
    web_stage = dockerfile_instructions("web")
    runs = " ".join(rest for keyword, rest in web_stage if keyword == "RUN")
    assert "npm ci --omit=dev" in runs and "node copy-vendor.mjs /out" in runs, runs
    copied = [rest for keyword, rest in web_stage if keyword == "COPY"]
    assert any("web/package-lock.json" in rest and "web/copy-vendor.mjs" in rest for rest in copied)
    assert "--from=web /out/node_modules web/node_modules" in instructions_named("COPY")
    web = REPO / "web"
    if shutil.which("node") is None or not (web / "node_modules").is_dir():
        if IN_CI:
            pytest.fail("node and web/node_modules (make install) are needed to run the script")
        pytest.skip("node or web/node_modules missing")
    subprocess.run(["node", str(web / "copy-vendor.mjs"), str(tmp_path)], check=True, timeout=60)
    manifest = json.loads((web / "vendor.json").read_text(encoding="utf-8"))["files"]
    expected = {f"{entry['package']}/{entry['path']}": entry["sha384"] for entry in manifest}
    root = tmp_path / "node_modules"
    found = {
        path.relative_to(root).as_posix(): base64.b64encode(
            hashlib.sha384(path.read_bytes()).digest()
        ).decode()
        for path in root.rglob("*")
        if path.is_file()
    }
    assert found == expected


def test_the_image_environment_listens_everywhere_and_stores_under_the_volume() -> None:
    env = dockerfile_env()
    assert env["HELPDESK_HOST"] == "0.0.0.0"
    assert env["HELPDESK_PORT"] == "8000"
    assert env["HELPDESK_DATA_DIR"] == "/data"
    assert instructions_named("EXPOSE") == [env["HELPDESK_PORT"]]
    volumes = [v for rest in instructions_named("VOLUME") for v in exec_form(rest)]
    assert env["HELPDESK_DATA_DIR"] in volumes
    # On its own the image starts in development mode on what it sets.
    helpdesk = {key: value for key, value in env.items() if key.startswith("HELPDESK_")}
    settings = Settings.from_env(helpdesk)
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 8000, "/data")
    if settings.database_url.startswith("sqlite://"):
        path = settings.database_url.removeprefix("sqlite://")
        assert path.startswith(env["HELPDESK_DATA_DIR"] + "/"), "SQLite outside the volume"


def test_the_image_sets_only_variables_the_settings_read() -> None:
    names = {key for key in dockerfile_env() if key.startswith("HELPDESK_")}
    assert names <= settings_variables(), names - settings_variables()


def test_the_image_command_migrates_then_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    (cmd,) = instructions_named("CMD")
    command = exec_form(cmd)
    assert command == ["helpdesk", "serve", "--migrate"]
    args = parse_cli(helpdesk_arguments(command), monkeypatch)
    assert args.command == "serve"
    assert args.migrate is True


def test_the_healthcheck_probes_healthz_with_python() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"], "slim images have no curl or wget"
    assert "/healthz" in command[2]
    assert "127.0.0.1" in command[2]
    compile(command[2], "<HEALTHCHECK>", "exec")


class Health(BaseHTTPRequestHandler):
    status = 200
    path_served = "/healthz"

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == self.path_served else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def health_server(status: int, handler: type[Health] | None = None) -> Iterator[int]:
    handler = handler or type("Handler", (Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_healthcheck_passes_only_on_a_healthy_answer(status: int, healthy: bool) -> None:
    """The probe runs for real against a loopback server on HELPDESK_PORT."""
    command = healthcheck_command()
    assert "HELPDESK_PORT" in command[2], "the probe follows HELPDESK_PORT"
    with health_server(status) as port:
        probe = subprocess.run(
            [sys.executable, *command[1:]],
            env={"HELPDESK_PORT": str(port)},
            capture_output=True,
            timeout=30,
        )
    assert (probe.returncode == 0) is healthy, probe.stderr.decode()


def test_dockerignore_keeps_local_state_out_but_not_the_project() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for required in (".venv", "data", "tests/js/node_modules", ".git"):
        assert required in patterns, f".dockerignore misses {required}"
    for cache in (".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert cache in patterns, f".dockerignore misses {cache}"
    needed = ["pyproject.toml", *(p.rstrip("*") for p in packages())]
    for path in needed:
        excluded = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(path, p)]
        assert not excluded, f"{path} is excluded by {excluded}"


def packages() -> list[str]:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include
    return list(include)


# Settings ---------------------------------------------------------------------------------------


def settings_variables() -> set[str]:
    source = (REPO / "server" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'"(HELPDESK_[A-Z0-9_]+)"', source))
    assert "HELPDESK_DATABASE_URL" in names, "server/config.py no longer reads HELPDESK_*?"
    return names


# docker-compose.yml -----------------------------------------------------------------------------


def test_compose_parses_with_its_services_and_no_version_key(raw_compose: dict[str, Any]) -> None:
    assert "version" not in raw_compose, "the compose spec has no `version:`"
    assert {"haproxy", "migrate", "app", "postgres", "redis"} <= set(raw_compose["services"])


def one_shot(service: Mapping[str, Any]) -> bool:
    """A service that runs to completion (the migration), never restarted."""
    return str(service.get("restart", "no")) == "no"


def test_compose_refuses_to_start_without_the_secrets(raw_compose: dict[str, Any]) -> None:
    for missing in OPERATOR_ENV:
        env = {key: value for key, value in OPERATOR_ENV.items() if key != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate_all(raw_compose, env)
        with pytest.raises(MissingVariable, match=missing):
            interpolate_all(raw_compose, {**env, missing: ""})


def test_no_secret_is_written_in_the_compose_file(raw_compose: dict[str, Any]) -> None:
    for name, service in raw_compose["services"].items():
        for key, value in environment(service).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key):
                assert REQUIRED_REFERENCE.fullmatch(value), f"{name}.{key} is not ${{VAR:?...}}"
            parts = urlsplit(value) if "://" in value else None
            if parts is not None and ":" in (parts.netloc.rpartition("@")[0] or ""):
                password = parts.netloc.rpartition("@")[0].split(":", 1)[1]
                assert REQUIRED_REFERENCE.fullmatch(password), f"{name}.{key}: literal password"
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for secret in OPERATOR_ENV.values():
        assert secret not in text
    assert DEV_JWT_SECRET not in text


def test_every_service_has_a_healthcheck_command(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if one_shot(service):
            assert not service.get("healthcheck"), f"{name} runs once: nothing to probe"
            continue
        test = (service.get("healthcheck") or {}).get("test")
        assert test, f"{name} has no healthcheck test"
        if isinstance(test, list):
            assert test[0] in {"CMD", "CMD-SHELL"}, f"{name}: {test}"
            assert len(test) > 1 and all(isinstance(part, str) for part in test)
        else:
            assert isinstance(test, str) and test.strip()
        assert not (service["healthcheck"].get("disable")), name


def test_the_backing_services_probe_themselves(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["postgres"]["image"].split(":")[0] == "postgres"
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])


def test_app_waits_for_healthy_postgres_and_redis(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    assert app["build"] in (".", {"context": "."}) or app["build"].get("context") == "."
    depends = app["depends_on"]
    assert isinstance(depends, dict), "use the long form with conditions"
    for backing in ("postgres", "redis"):
        assert depends[backing]["condition"] == "service_healthy", backing


def test_app_environment_passes_the_production_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = environment(services["app"])
    assert env["HELPDESK_ENV"] == "production"
    settings = Settings.from_env(env)
    assert settings.production
    assert settings.graphiql is False
    assert settings.jwt_secret == OPERATOR_ENV["HELPDESK_JWT_SECRET"]

    database = urlsplit(settings.database_url)
    assert database.scheme == "postgres"
    assert (database.hostname, database.port) == ("postgres", 5432)
    postgres = environment(services["postgres"])
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"] == OPERATOR_ENV["POSTGRES_PASSWORD"]
    assert database.path == "/" + postgres.get("POSTGRES_DB", postgres["POSTGRES_USER"])

    broker = urlsplit(settings.broker_url)
    assert broker.scheme == "redis"
    assert (broker.hostname, broker.port or 6379) == ("redis", 6379)


def test_app_takes_the_jwt_secret_from_a_required_variable(raw_compose: dict[str, Any]) -> None:
    raw = environment(raw_compose["services"]["app"])["HELPDESK_JWT_SECRET"]
    assert REQUIRED_REFERENCE.fullmatch(raw), raw
    short = {**OPERATOR_ENV, "HELPDESK_JWT_SECRET": "too-short"}
    with pytest.raises(ConfigError):
        Settings.from_env(environment(interpolate_all(raw_compose, short)["services"]["app"]))


def test_compose_sets_only_variables_the_settings_read(compose: dict[str, Any]) -> None:
    names = {key for key in environment(compose["services"]["app"]) if key.startswith("HELPDESK_")}
    assert names <= settings_variables(), names - settings_variables()


def test_only_the_balancer_publishes_a_port_and_app_keeps_data_in_a_declared_volume(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"haproxy"}, publishing
    app = services["app"]
    env = {**dockerfile_env(), **environment(app)}
    assert [str(port) for port in app["expose"]] == [env["HELPDESK_PORT"]]
    assert "container_name" not in app, "a fixed container name cannot be scaled"
    targets = [str(volume).split(":")[1] for volume in app["volumes"]]
    assert env["HELPDESK_DATA_DIR"] in targets
    healthcheck = " ".join(app["healthcheck"]["test"])
    assert f"127.0.0.1:{env['HELPDESK_PORT']}/healthz" in healthcheck


def test_replicas_start_after_one_migration(compose: dict[str, Any]) -> None:
    """Replicas migrating side by side would race on the same tables: the migrate service runs
    once, on the app's database, and the replicas wait until it has finished."""
    services = compose["services"]
    app, migrate = services["app"], services["migrate"]
    assert migrate["build"] == app["build"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert one_shot(migrate)
    settings = Settings.from_env(environment(migrate))
    settings.check()
    assert settings.database_url == environment(app)["HELPDESK_DATABASE_URL"]
    assert "--migrate" not in app["command"], "replicas must not migrate on their own"


def test_every_named_volume_is_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in compose["services"].values():
        for volume in service.get("volumes") or []:
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source and not source.startswith(("/", ".", "~", "$")):
                used.add(source)
    assert used, "no named volumes"
    assert used <= declared, used - declared
    assert declared <= used, f"declared but unused: {declared - used}"


@pytest.mark.parametrize(("name", "command"), [("app", "serve"), ("migrate", "migrate")])
def test_compose_commands_name_existing_cli_commands(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str, command: str
) -> None:
    given = compose["services"][name]["command"]
    argv = shlex.split(given) if isinstance(given, str) else list(given)
    args = parse_cli(helpdesk_arguments(argv), monkeypatch)
    assert args.command == command


def test_redis_persistence_choice_is_consistent(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis.get("command")
    argv = shlex.split(command) if isinstance(command, str) else list(command or [])
    persistence_off = "--save" in argv and argv[argv.index("--save") + 1] == ""
    assert persistence_off or redis.get("volumes"), "redis: turn persistence off or keep a volume"


# deploy/haproxy.cfg -----------------------------------------------------------------------------

SECTION_KEYWORDS = {"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers"}
TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def haproxy_sections(text: str | None = None) -> dict[str, list[list[str]]]:
    """Each section ("frontend graphql") with its lines as words, comments dropped (HAProxy's
    layout: a section starts with its keyword, its lines follow indented)."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    if text is None:
        text = HAPROXY_FILE.read_text(encoding="utf-8")
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in SECTION_KEYWORDS:
            assert not line[0].isspace(), f"section keyword indented: {line!r}"
            current = sections.setdefault(" ".join(words), [])
        else:
            assert current is not None, f"a line outside any section: {line!r}"
            current.append(words)
    return sections


def section(kind: str) -> tuple[str, list[list[str]]]:
    found = [(name, lines) for name, lines in haproxy_sections().items() if name.split()[0] == kind]
    assert len(found) == 1, f"expected one {kind} section, found {[n for n, _ in found]}"
    return found[0]


def lines_starting(lines: list[list[str]], *words: str) -> list[list[str]]:
    return [line for line in lines if line[: len(words)] == list(words)]


def seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", value).groups()  # type: ignore[union-attr]
    return float(number) * TIME_UNITS[unit or "ms"]  # HAProxy counts bare numbers in ms


def timeout(name: str) -> float:
    _, defaults = section("defaults")
    (line,) = lines_starting(defaults, "timeout", name)
    return seconds(line[2])


def server_template() -> list[str]:
    _, backend = section("backend")
    (line,) = lines_starting(backend, "server-template")
    return line


def haproxy_version() -> str | None:
    """major.minor of the installed haproxy; None (a skip, a failure in CI) when missing."""
    binary = shutil.which("haproxy")
    if binary is None:
        if IN_CI:
            pytest.fail("haproxy is needed to check deploy/haproxy.cfg (.ci/run installs it)")
        return None
    shown = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"version (\d+\.\d+)", shown)
    assert found is not None, shown
    return found[1]


def test_haproxy_accepts_the_config_file_in_the_images_version(compose: dict[str, Any]) -> None:
    """`haproxy -c`: `init-addr none` lets the servers start unresolved, so no Docker DNS is
    needed for the check."""
    image = compose["services"]["haproxy"]["image"]
    name, _, tag = image.partition(":")
    assert name == "haproxy" and re.match(r"\d+\.\d+", tag), f"pin a version: {image}"
    installed = haproxy_version()
    if installed is None:
        pytest.skip("haproxy not installed: `apt-get install haproxy` to check the file")
    assert tag.startswith(installed), f"the image runs {tag}, the check ran {installed}"
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(HAPROXY_FILE)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_haproxy_reads_the_repository_file_read_only(compose: dict[str, Any]) -> None:
    mounts = [str(volume) for volume in compose["services"]["haproxy"]["volumes"]]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in mounts, mounts


def test_the_balancer_listens_on_the_published_port(compose: dict[str, Any]) -> None:
    _, frontend = section("frontend")
    (bind,) = lines_starting(frontend, "bind")
    port = bind[1].rsplit(":", 1)[1]
    published = [str(p) for p in compose["services"]["haproxy"]["ports"]]
    assert [p.rsplit(":", 1)[1] for p in published] == [port], published
    assert port == dockerfile_env()["HELPDESK_PORT"], "clients keep the app's port"


def test_the_backend_finds_every_app_replica_on_the_apps_port(compose: dict[str, Any]) -> None:
    line = server_template()
    _, _prefix, count, address, *params = line
    assert int(count) >= 4, "room for `--scale app=4` at least"
    host, _, port = address.partition(":")
    assert host == "app" and "app" in compose["services"], "the compose service name resolves"
    assert port == dockerfile_env()["HELPDESK_PORT"]
    assert [str(p) for p in compose["services"]["app"]["expose"]] == [port]
    assert "check" in params
    assert params[params.index("init-addr") + 1] == "none", "start before the replicas resolve"
    resolvers = params[params.index("resolvers") + 1]
    nameservers = haproxy_sections()[f"resolvers {resolvers}"]
    assert [line[2] for line in lines_starting(nameservers, "nameserver")] == ["127.0.0.11:53"]


def test_the_backend_checks_readiness_and_marks_down_fast(tmp_path: Path) -> None:
    """The check asks the route that answers 503 while PostgreSQL or Redis is unreachable."""
    _, backend = section("backend")
    (httpchk,) = lines_starting(backend, "option", "httpchk")
    method, path = httpchk[2:4]
    assert (method, path) == ("GET", "/readyz")
    app = create_app(Settings(data_dir=str(tmp_path), web_dir=str(REPO / "web")))
    served = {(route.method, route.resource.canonical) for route in app.router.routes()}
    assert (method, path) in served
    assert lines_starting(backend, "http-check", "expect") == [
        ["http-check", "expect", "status", "200"]
    ]
    (defaults,) = lines_starting(backend, "default-server")
    option = dict(zip(defaults[1::2], defaults[2::2], strict=False))
    assert seconds(option["inter"]) <= 1
    assert int(option["fall"]) <= 2 and int(option["rise"]) <= 2
    # Unset, a check times out after `inter`; /readyz bounds its own checks and answers within a
    # second, so a replica slow under load is not taken for a dead one.
    (check_timeout,) = lines_starting(backend, "timeout", "check")
    assert seconds(check_timeout[2]) >= max(1.0, 2 * READY_CHECK_SECONDS)
    assert lines_starting(backend, "balance") == [["balance", "leastconn"]]


def test_the_timeouts_outlast_the_apps_quiet_spells() -> None:
    """WebSockets become tunnels once upgraded: the tunnel timeout is the longest silence a
    subscription may keep (an hour: graphql-transport-ws has no server pings; presence
    heartbeats are far shorter). HTTP subscription streams are not tunnels: the client and
    server timeouts outlast their heartbeats."""
    defaults = Settings()
    assert timeout("tunnel") >= 3600
    assert timeout("tunnel") >= defaults.presence_heartbeat_seconds
    stream_heartbeat = max(SSE_HEARTBEAT_INTERVAL, MULTIPART_SUBSCRIPTION_HEARTBEAT_INTERVAL)
    assert timeout("client") > stream_heartbeat
    assert timeout("server") > stream_heartbeat
    assert timeout("server") > defaults.operation_timeout, "a slow answer is the app's to time out"
    assert timeout("http-request") >= defaults.read_timeout


def test_the_balancer_keeps_upgrades_and_retries_elsewhere() -> None:
    _, defaults = section("defaults")
    assert ["mode", "http"] in defaults
    options = {" ".join(line[1:]) for line in lines_starting(defaults, "option")}
    assert not options & {"httpclose", "http-server-close", "forceclose"}, options
    assert "redispatch" in options, "a connection a dead replica refused goes to another one"


def test_client_addresses_are_forwarded_only_if_the_app_trusts_a_proxy() -> None:
    trusts_proxy = any("PROXY" in name or "FORWARD" in name for name in settings_variables())
    forwards = any(
        "forwardfor" in " ".join(line) for lines in haproxy_sections().values() for line in lines
    )
    assert forwards == trusts_proxy, "X-Forwarded-For means something only to an app reading it"


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_balancer_healthcheck_asks_its_monitor_uri(
    compose: dict[str, Any], status: int, healthy: bool
) -> None:
    """The probe runs for real (bash, as in the image) against a loopback server."""
    _, frontend = section("frontend")
    (monitor,) = lines_starting(frontend, "monitor-uri")
    assert lines_starting(frontend, "monitor", "fail"), "503 while no replica is ready"
    command = compose["services"]["haproxy"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "bash", "-c"], command
    port = dockerfile_env()["HELPDESK_PORT"]
    assert f"/dev/tcp/127.0.0.1/{port} " in command[3] and f"GET {monitor[1]} " in command[3]
    if shutil.which("bash") is None:
        pytest.skip("bash not installed")
    handler = type("Handler", (Health,), {"status": status, "path_served": monitor[1]})
    with health_server(status, handler) as local:
        script = command[3].replace(f"/dev/tcp/127.0.0.1/{port} ", f"/dev/tcp/127.0.0.1/{local} ")
        probe = subprocess.run(["bash", "-c", script], capture_output=True, timeout=30)
    assert (probe.returncode == 0) is healthy, probe.stderr.decode()


def test_the_benchmarks_local_rendering_changes_only_where_servers_are(tmp_path: Path) -> None:
    """bench/balancer.py runs this file for local processes: the same lines but the bind, the
    server list and Docker's resolvers; and HAProxy accepts it."""
    original = HAPROXY_FILE.read_text(encoding="utf-8")
    rendered = local_config(original, port=18000, servers=[18001, 18002])
    moved = (["bind"], ["server"], ["server-template"])

    def kept(sections: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        return {
            name: [line for line in lines if line[:1] not in moved]
            for name, lines in sections.items()
            if not name.startswith("resolvers ")
        }

    assert kept(haproxy_sections(rendered)) == kept(haproxy_sections())
    name, _ = section("frontend")
    assert lines_starting(haproxy_sections(rendered)[name], "bind") == [["bind", "127.0.0.1:18000"]]
    servers = [line.split() for line in rendered.splitlines() if line.split()[:1] == ["server"]]
    template = server_template()
    assert [words[1:3] for words in servers] == [
        [f"{template[1]}1", "127.0.0.1:18001"],
        [f"{template[1]}2", "127.0.0.1:18002"],
    ]
    assert all(words[3:] == ["check"] for words in servers)
    if haproxy_version() is None:
        pytest.skip("haproxy not installed")
    config = tmp_path / "haproxy.cfg"
    config.write_text(rendered, encoding="utf-8")
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
