"""What a database outage costs the server, and how long SIGTERM takes, for two source trees.

    python -m bench.outage [--before DIR] [--clients 30] [--seconds 10]

`--before` is another checkout of the project (e.g. `git worktree add /tmp/before main`): both
trees are served by this virtualenv's Python, one after the other, in the same run.

1. Outage: `helpdesk serve` pointed at a PostgreSQL port where nothing listens; N clients
   retry as fast as they are answered (half signed in, half anonymous reading the FAQ). Per
   failed request: server CPU (utime + stime of the process) and bytes of log (INFO, as
   deployed), and what the clients were told (status, code).
2. Shutdown: seconds from SIGTERM to exit with one open WebSocket, for a database that answers
   (SQLite) and one that does not; then with a client that stopped reading its socket and a
   request whose body never ends (HELPDESK_SHUTDOWN_TIMEOUT at its default).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.common import PYTHON, ROOT, free_port, machine, pin_to_load_core, pinned, table

SECRET = "bench-secret-" + "s" * 32


def server_env(tree: Path, port: int, database_url: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "HELPDESK_PORT": str(port),
        "HELPDESK_DATABASE_URL": database_url,
        "HELPDESK_DATA_DIR": data_dir,
        "HELPDESK_JWT_SECRET": SECRET,
        "HELPDESK_RATE_LIMIT_PER_MINUTE": "0",
        "HELPDESK_LOG_LEVEL": "INFO",
    }


def start(tree: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            pinned([PYTHON, "-m", "server.cli", "serve"], 0), env=env, cwd=tree, stderr=output
        )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def until_up(session: aiohttp.ClientSession, base: str) -> None:
    for _ in range(300):
        try:
            async with session.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{base} never answered")


def token(sub: str) -> str:
    from server import auth

    return auth.encode(sub=sub, role="customer", name=sub, secret=SECRET)


async def outage(tree: Path, clients: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        url = f"postgres://postgres:bench-password@127.0.0.1:{free_port()}/nothing"
        log = Path(folder) / "server.log"
        server = start(tree, server_env(tree, port, url, folder), log)
        base = f"http://127.0.0.1:{port}"
        answers: collections.Counter[str] = collections.Counter()
        try:
            async with aiohttp.ClientSession() as session:
                await until_up(session, base)
                logged_before, cpu_before = log.stat().st_size, cpu_seconds(server.pid)
                deadline = time.monotonic() + seconds

                async def client(n: int) -> None:
                    headers = {"Authorization": f"Bearer {token(f'c{n}')}"} if n % 2 else {}
                    query = "{ me { id } }" if n % 2 else "{ faq { slug } }"
                    while time.monotonic() < deadline:
                        async with session.post(
                            f"{base}/graphql", json={"query": query}, headers=headers
                        ) as response:
                            text = await response.text()
                        try:
                            errors = orjson.loads(text).get("errors", [])
                            codes = {(e.get("extensions") or {}).get("code") for e in errors}
                        except orjson.JSONDecodeError:
                            codes = {"plain text"}
                        answers[f"{response.status} {','.join(sorted(map(str, codes)))}"] += 1

                await asyncio.gather(*(client(n) for n in range(clients)))
                cpu = cpu_seconds(server.pid) - cpu_before
                logged = log.stat().st_size - logged_before
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        requests = sum(answers.values())
        text = log.read_text(errors="replace")
        return {
            "requests": requests,
            "cpu_ms": 1000 * cpu / requests,
            "log_bytes": logged / requests,
            "answers": dict(answers),
            "password_in_log": "bench-password" in text,
            "secret_in_log": SECRET in text,
        }


def migrate(tree: Path, env: dict[str, str]) -> None:
    command = [PYTHON, "-m", "server.cli", "migrate"]
    subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True)


async def shutdown(tree: Path, database_url: str | None, stalled: bool = False) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite://{folder}/helpdesk.sqlite3"
        env = server_env(tree, port, url, folder)
        if database_url is None:
            migrate(tree, env)
        server = start(tree, env, Path(folder) / "server.log")
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                await until_up(session, base)
                # Anonymous: signing in needs the database, which may be unreachable here.
                ws = await session.ws_connect(f"{base}/graphql", protocols=["graphql-transport-ws"])
                await ws.send_json({"type": "connection_init", "payload": {}})
                await ws.receive(timeout=10)
                if stalled:  # a client that stopped reading, and a body that never ends
                    quiet = await session.ws_connect(
                        f"{base}/graphql", protocols=["graphql-transport-ws"], autoclose=False
                    )
                    await quiet.send_json({"type": "connection_init", "payload": {}})
                    _, trickle = await asyncio.open_connection("127.0.0.1", port)
                    trickle.write(
                        b"POST /graphql HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 99\r\n\r\n{"
                    )
                await asyncio.sleep(0.3)
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                reader = asyncio.ensure_future(ws.receive())
                await asyncio.to_thread(server.wait, 90)
                elapsed = time.monotonic() - started
                reader.cancel()
        finally:
            if server.poll() is None:
                server.kill()
            server.wait()
        return elapsed


async def run(trees: dict[str, Path], clients: int, seconds: float) -> str:
    outages = {name: await outage(tree, clients, seconds) for name, tree in trees.items()}
    dead = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    stops = {
        name: (
            await shutdown(tree, None),
            await shutdown(tree, dead),
            await shutdown(tree, None, stalled=True),
        )
        for name, tree in trees.items()
    }
    names = list(trees)
    rows: list[list[object]] = []
    for name in names:
        o = outages[name]
        answers = "; ".join(f"{k} ×{v}" for k, v in sorted(o["answers"].items()))
        rows.append(
            [
                name,
                o["requests"],
                f"{o['cpu_ms']:.2f}",
                f"{o['log_bytes']:.0f}",
                answers,
                "yes" if o["password_in_log"] or o["secret_in_log"] else "no",
            ]
        )
    if len(names) == 2:
        a, b = (outages[n] for n in names)
        rows.append(
            [
                f"{names[0]} / {names[1]}",
                "",
                f"{a['cpu_ms'] / b['cpu_ms']:.2f}×",
                f"{a['log_bytes'] / max(b['log_bytes'], 1):.1f}×",
                "",
                "",
            ]
        )
    report = table(
        f"Database unreachable: {clients} clients retrying for {seconds:g} s",
        [
            "tree",
            "requests",
            "server CPU ms / request",
            "log bytes / request",
            "answers",
            "secret in log",
        ],
        rows,
    )
    report += "\n" + table(
        "SIGTERM to exit, one open WebSocket",
        ["tree", "database up (SQLite)", "database unreachable", "+ a stalled client and body"],
        [[n, *(f"{t:.2f} s" for t in stops[n])] for n in names],
    )
    return f"{machine()}\n\n{report}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    pin_to_load_core()
    trees = {"this tree": ROOT}
    if args.before is not None:
        trees = {"before": args.before.resolve(), **trees}
    print(asyncio.run(run(trees, args.clients, args.seconds)))


if __name__ == "__main__":
    main()
