"""Writes while Redis hangs: createTicket latency and /readyz with a Redis stopped by SIGSTOP.

One server process (core 0) on a new SQLite database with a Redis of its own as broker and rate
limiter (the limit on, as deployed). A customer posts `--writes` createTicket mutations one after
another while Redis answers, then again while Redis is stopped (SIGSTOP: connections accepted,
nothing answered — a hung host, not a dead one), then once more after SIGCONT. /readyz is asked
during the hang. Reported: latency per write in each phase and the ratio to the healthy phase.

    .venv/bin/python -m bench.hung_redis --writes 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.common import (
    PYTHON,
    free_port,
    helpdesk_cli,
    helpdesk_env,
    machine,
    percentile,
    pin_to_load_core,
    process,
    sqlite_database,
    table,
)
from bench.fanout import CREATE, token


@contextlib.contextmanager
def own_redis() -> Iterator[tuple[str, int]]:
    """A throwaway redis-server on a free port; yields (URL, PID), killed by PID afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench needs redis-server: `sudo apt-get install redis-server`")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-redis-") as folder:
        command = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
        command += ["--daemonize", "no", "--dir", folder]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                != "PONG"
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0", child.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()


async def timed_writes(session: aiohttp.ClientSession, base: str, count: int) -> list[float]:
    bearer = token("bench-hung-customer", "customer")
    took = []
    for i in range(count):
        variables = {"in": {"categorySlug": "app-help", "question": f"Written while hung {i}"}}
        started = time.perf_counter()
        async with session.post(
            f"{base}/graphql",
            json={"query": CREATE, "variables": variables},
            headers={"Authorization": f"Bearer {bearer}"},
        ) as response:
            body = await response.json()
        took.append(time.perf_counter() - started)
        if response.status != 200 or body.get("errors") or body["data"]["createTicket"]["errors"]:
            raise RuntimeError(f"write failed: {response.status} {body}")
    return took


async def timed_readyz(session: aiohttp.ClientSession, base: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    async with session.get(f"{base}/readyz") as response:
        kind = response.content_type
        await response.read()
    return time.perf_counter() - started, response.status, kind


async def scenario(base: str, redis_pid: int, writes: int) -> str:
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        healthy = await timed_writes(session, base, writes)
        os.kill(redis_pid, signal.SIGSTOP)
        try:
            hung = await timed_writes(session, base, writes)
            ready = await timed_readyz(session, base)
        finally:
            os.kill(redis_pid, signal.SIGCONT)
        await asyncio.sleep(0.5)
        resumed = await timed_writes(session, base, writes)

    def ms(value: float) -> str:
        return f"{value * 1000:.1f}"

    base_p50 = percentile(healthy, 0.5)
    rows = [
        [
            name,
            ms(percentile(samples, 0.5)),
            ms(max(samples)),
            f"{percentile(samples, 0.5) / base_p50:.1f}×",
        ]
        for name, samples in (
            ("Redis answering", healthy),
            ("Redis stopped", hung),
            ("Redis resumed", resumed),
        )
    ]
    rows.append(["/readyz, Redis stopped", ms(ready[0]), f"HTTP {ready[1]} {ready[2]}", ""])
    return table(
        f"createTicket while Redis hangs ({writes} sequential writes per phase; {machine()})",
        ["phase", "p50 ms", "max ms", "p50 vs answering"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=10)
    args = parser.parse_args()
    pin_to_load_core()
    with own_redis() as (redis_url, redis_pid), sqlite_database() as database_url:
        helpdesk_cli("migrate", database_url=database_url)
        port = free_port()
        env = helpdesk_env(port, database_url, redis_url)
        env["HELPDESK_RATE_LIMIT_PER_MINUTE"] = "100000"
        env["HELPDESK_DATA_DIR"] = str(Path(database_url.removeprefix("sqlite://")).parent)
        command = [str(Path(PYTHON).parent / "helpdesk"), "serve"]
        base = f"http://127.0.0.1:{port}"
        with process(command, env=env, ready_url=f"{base}/healthz"):
            print(asyncio.run(scenario(base, redis_pid, args.writes)))


if __name__ == "__main__":
    main()
