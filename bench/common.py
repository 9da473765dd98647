"""What every benchmark shares: processes pinned to cores, wrk, databases, tables.

The machine has two cores: servers run on core 0 and load generators on core 1 (`taskset`), so
figures measured side by side in one run are comparable even when the machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVER_CPU = 0
LOAD_CPU = 1
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def raise_fd_limit() -> None:
    """Many sockets per process: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def wait_http(
    url: str, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing served {url} within {timeout} s")


@contextlib.contextmanager
def process(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cpu: int | None = SERVER_CPU,
    ready_url: str | None = None,
    quiet: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (pinned to `cpu`), stopped by PID (SIGINT, then SIGKILL) on exit."""
    full_env = {**os.environ, **(env or {})}
    output = subprocess.DEVNULL if quiet else None
    child = subprocess.Popen(
        pinned(command, cpu), env=full_env, cwd=ROOT, stdout=output, stderr=output
    )
    try:
        if ready_url is not None:
            wait_http(ready_url, process=child)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def helpdesk_env(port: int, database_url: str, broker_url: str = "memory://") -> dict[str, str]:
    """Our server as deployed, minus per-request log lines and the mutation rate limit."""
    return {
        "HELPDESK_PORT": str(port),
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_BROKER_URL": broker_url,
        "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_RATE_LIMIT_PER_MINUTE": "0",
        "HELPDESK_GRAPHIQL": "false",
    }


@contextlib.contextmanager
def helpdesk_server(
    database_url: str, broker_url: str = "memory://", cpu: int | None = SERVER_CPU
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`helpdesk serve` on a free port; yields (base URL, process)."""
    port = free_port()
    command = [str(Path(PYTHON).parent / "helpdesk"), "serve"]
    with process(
        command,
        env=helpdesk_env(port, database_url, broker_url),
        cpu=cpu,
        ready_url=f"http://127.0.0.1:{port}/healthz",
    ) as child:
        yield f"http://127.0.0.1:{port}", child


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (Debian package)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench needs wrk: `sudo apt-get install wrk`")
    return found


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    seconds: int = 10,
    connections: int = 32,
    cpu: int | None = LOAD_CPU,
) -> WrkResult:
    """`wrk -t1 -cN --latency`, GET or (with a body) POST, pinned to the load core."""
    binary = ensure_wrk()
    lines = []
    if body is not None:
        lines.append('wrk.method = "POST"')
        lines.append(f"wrk.body = [==[{body.decode()}]==]")
    for name, value in (headers or {}).items():
        lines.append(f'wrk.headers["{name}"] = "{value}"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        command = [binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
        command += ["-s", script.name, url]
        out = subprocess.run(pinned(command, cpu), capture_output=True, text=True, check=True)
    finally:
        os.unlink(script.name)
    text = out.stdout
    # wrk pads latencies in seconds with a trailing space ("1.40s ").
    if not re.search(r"^\s+99%\s+\S+\s*$", text, re.M):
        raise RuntimeError(f"unexpected wrk output:\n{text}\n{out.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    # The distribution lines only: "+/- Stdev" columns elsewhere also end in "50%".
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)\s*$", text, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)\s*$", text, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests_per_second=rps,
        p50_ms=p50,
        p99_ms=p99,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextlib.contextmanager
def postgres_database(admin_url: str = DEFAULT_PG, keep: bool = False) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards unless `keep`."""
    import asyncpg

    name = f"helpdesk_bench_{uuid.uuid4().hex[:8]}"
    dsn = admin_url.replace("postgres://", "postgresql://", 1)

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(admin_url, name)
    finally:
        if not keep:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def helpdesk_cli(*args: str, database_url: str) -> None:
    """`helpdesk ARGS` on that database; its error output is in the exception when it fails."""
    command = [str(Path(PYTHON).parent / "helpdesk"), *args]
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"helpdesk {' '.join(args)} failed:\n{done.stderr}")


def add_database_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("HELPDESK_BENCH_DATABASE_URL", DEFAULT_PG),
        help="PostgreSQL server to create the database on",
    )


def pin_to_load_core() -> None:
    """This process drives the load: keep core 0 for the servers."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {LOAD_CPU})


def report_on_new_postgres(
    admin_url: str, scenario: Callable[[str], Coroutine[Any, Any, str]]
) -> None:
    """Print the scenario's report, run on a new migrated database (dropped afterwards)."""
    pin_to_load_core()
    with postgres_database(admin_url) as url:
        helpdesk_cli("migrate", database_url=url)
        print(asyncio.run(scenario(url)))


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as folder:
        yield f"sqlite://{folder}/helpdesk.sqlite3"


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return (
        f"{today}, {os.cpu_count()} cores ({model}), Python {platform.python_version()}, "
        "server pinned to core 0, load on core 1"
    )


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, ready to paste into the README."""
    cells = [[str(c) for c in row] for row in rows]
    lines = [f"### {title}", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True, slots=True)
class RedisServer:
    url: str
    pid: int | None  # None: the machine's Redis, shared


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this run's own on a free port (no persistence): no other process's messages
    on its channels. Falls back to the machine's Redis when `redis-server` is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield RedisServer(DEFAULT_REDIS, None)
        return
    port = free_port()
    command = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
    with process(command, cpu=None) as child:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    if probe.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {port}")
            time.sleep(0.05)
        yield RedisServer(f"redis://127.0.0.1:{port}/0", child.pid)


def scrape(base_url: str, *names: str) -> dict[str, float]:
    """The named unlabelled samples of a server's /metrics (0 when absent)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def with_pool(database_url: str, size: int) -> str:
    """The URL with a connection pool of at most `size` (the machine's PostgreSQL allows 100
    connections in all, shared by everything that runs on it)."""
    parts = urlsplit(database_url)
    query = "&".join(q for q in (parts.query, f"maxsize={size}") if q)
    return urlunsplit(parts._replace(query=query))
