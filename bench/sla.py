"""The SLA breach scheduler at scale: one scan's time over 1M tickets on PostgreSQL, and its plan.

A fresh PostgreSQL database (dropped afterwards unless --keep) is migrated and seeded with
`seed_demo` (COPY, as `bench.history` does); every ticket not yet final gets a first-response
due time spread over the next three days, then VACUUM ANALYZE. Measured through
`services.sla.breach_due`, the function the server's scheduler calls:

- an idle scan (nothing due: what every process does every HELPDESK_SLA_SCAN_SECONDS),
- a busy scan that breaches a full batch (--due tickets made due just before it: the claim with
  FOR UPDATE SKIP LOCKED, the updates and one SLA_BREACHED event each, in one transaction),

and EXPLAIN (ANALYZE, BUFFERS) of the claim statement, which must use the `sla_check_at` index
(the run fails otherwise).

    .venv/bin/python -m bench.sla [--tickets 1000000] [--repeat 50] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

from tortoise import Tortoise

from bench.common import (
    add_database_url_option,
    machine,
    percentile,
    pin_to_load_core,
    postgres_database,
    table,
)
from models import Ticket, db
from pubsub import broker_from_url
from server.demo import seed_demo
from services import sla

FINAL = "('CLOSED', 'REJECTED')"


async def arm(tickets: int) -> int:
    """Due times for every ticket not yet final, spread over three days from an hour ahead."""
    connection = Tortoise.get_connection("default")
    await connection.execute_script(
        "UPDATE tickets SET first_response_due_at"
        " = now() + interval '1 hour' + random() * interval '3 days'"
        f" WHERE status NOT IN {FINAL}"
    )
    await connection.execute_script(
        "UPDATE tickets SET sla_due_at = first_response_due_at,"
        " sla_check_at = first_response_due_at WHERE first_response_due_at IS NOT NULL"
    )
    await connection.execute_script("VACUUM ANALYZE tickets")
    rows = await connection.execute_query_dict(
        "SELECT count(*) AS n FROM tickets WHERE sla_check_at IS NOT NULL"
    )
    return int(rows[0]["n"])


async def make_due(count: int) -> None:
    """The `count` tickets due next become due now (a passed due time, as after a lull)."""
    connection = Tortoise.get_connection("default")
    await connection.execute_query(
        "UPDATE tickets SET first_response_due_at = now(), sla_check_at = now(),"
        " sla_due_at = now() WHERE id IN (SELECT id FROM tickets WHERE sla_check_at IS NOT NULL"
        " ORDER BY sla_check_at LIMIT $1)",
        [count],
    )


async def plan() -> str:
    """EXPLAIN ANALYZE of the scheduler's claim, as `breach_due` sends it (its locks end with
    the statement; nothing is changed)."""
    query = (
        Ticket.filter(sla_check_at__lte=datetime.now(UTC))
        .order_by("sla_check_at")
        .limit(sla.SCAN_BATCH)
        .select_for_update(skip_locked=True)
    )
    sql = query.sql(params_inline=True)
    connection = Tortoise.get_connection("default")
    rows = await connection.execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
    return "\n".join(row["QUERY PLAN"] for row in rows)


async def scenario(url: str, args: argparse.Namespace) -> int:
    await db.migrate(url)
    broker = broker_from_url("memory://")
    async with db.connected(url):
        started = time.perf_counter()
        await seed_demo(tickets=args.tickets)
        seeded = time.perf_counter() - started
        print(f"seeded {args.tickets:,} tickets in {seeded:.1f} s", flush=True)
        active = await arm(args.tickets)
        print(f"{active:,} tickets not final have due times", flush=True)

        idle: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            breached = await sla.breach_due(broker=broker)
            idle.append(time.perf_counter() - started)
            assert breached == 0, breached
        busy: list[float] = []
        for _ in range(args.rounds):
            await make_due(sla.SCAN_BATCH)
            started = time.perf_counter()
            breached = await sla.breach_due(broker=broker)
            busy.append(time.perf_counter() - started)
            assert breached == sla.SCAN_BATCH, breached
        await make_due(sla.SCAN_BATCH)
        explained = await plan()

    uses_index = "Index Scan using" in explained and "sla_check_at" in explained
    rows = [
        ["idle scan (nothing due)", args.repeat, f"{percentile(idle, 0.5) * 1000:.2f}",
         f"{percentile(idle, 0.95) * 1000:.2f}", "-"],
        [f"busy scan ({sla.SCAN_BATCH} breached)", args.rounds,
         f"{percentile(busy, 0.5) * 1000:.1f}", f"{percentile(busy, 0.95) * 1000:.1f}",
         f"{percentile(busy, 0.5) * 1000 / sla.SCAN_BATCH:.2f}"],
    ]  # fmt: skip
    print()
    print(machine())
    print(f"{args.tickets:,} tickets ({active:,} not final, with due times); PostgreSQL")
    print()
    print(table("SLA scheduler: one scan", ["scan", "runs", "p50 ms", "p95 ms", "ms/ticket"], rows))
    print("Claim statement (EXPLAIN ANALYZE, a full batch due):")
    print()
    print("\n".join(f"    {line}" for line in explained.splitlines()))
    print()
    print(f"uses the sla_check_at index: {'yes' if uses_index else 'NO'}")
    return 0 if uses_index else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.sla", description=__doc__.splitlines()[0])
    add_database_url_option(parser)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=50, help="idle scans timed")
    parser.add_argument("--rounds", type=int, default=10, help="busy scans timed")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args(argv)
    pin_to_load_core()
    with postgres_database(args.database_url, keep=args.keep) as url:
        return asyncio.run(scenario(url, args))


if __name__ == "__main__":
    sys.exit(main())
