"""`helpdesk` command: serve, migrate, seed-demo, token, export-schema, schema-check,
possible-types."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from aiohttp import web
from graphql import GraphQLSchema, is_abstract_type

from models import db
from server import auth
from server.app import create_app
from server.config import ConfigError, Settings
from server.graphql_schema import build_schema
from server.logs import configure, url_password


def schema_sdl() -> str:
    return str(build_schema()).rstrip() + "\n"


def possible_types(schema: GraphQLSchema) -> dict[str, list[str]]:
    """Apollo Client's `possibleTypes`: every union and interface with its object types, so the
    cache matches fragments on an abstract type (`... on TimelineItem`) without guessing."""
    return {
        name: sorted(member.name for member in schema.get_possible_types(graphql_type))
        for name, graphql_type in sorted(schema.type_map.items())
        if is_abstract_type(graphql_type) and not name.startswith("__")
    }


def write_output(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def schema_check() -> int:
    from server.schema_check import check

    report = check(schema_sdl())
    print(f"schema-check: compared with {report.baseline or 'nothing (first schema)'}")
    for change in report.allowed:
        print(f"  breaking, marked intended: {change}")
    for change in report.dangerous:
        print(f"  dangerous: {change}")
    for failure in report.failures:
        print(f"  FAIL {failure}")
    print("schema-check: " + ("failed" if report.failures else "ok"))
    return 1 if report.failures else 0


SHUTDOWN_GRACE = 5.0  # beyond the requests' deadline: closing sockets, pools, the broker


def exit_by_deadline(timeout: float) -> Callable[[web.Application], Awaitable[None]]:
    """Shutdown is bounded: in-flight requests get `timeout` seconds (aiohttp cancels them
    then); should closing anything else hang (a database that does not answer), the process
    exits anyway once `timeout` plus a grace period have passed since the signal."""

    async def start(_: web.Application) -> None:
        def give_up() -> None:
            print("helpdesk: shutdown deadline passed; exiting", file=sys.stderr, flush=True)
            os._exit(1)

        timer = threading.Timer(timeout + SHUTDOWN_GRACE, give_up)
        timer.daemon = True
        timer.start()

    return start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helpdesk", description="Helpdesk GraphQL API")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve GraphQL over HTTP and WebSocket")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    commands.add_parser("migrate", help="apply migrations and seed categories")
    token = commands.add_parser("token", help="print a signed token for development")
    token.add_argument("--sub", required=True, help="user id")
    token.add_argument("--role", default="customer", choices=["customer", "agent", "admin"])
    token.add_argument("--name", default=None, help="display name (default: the user id)")
    token.add_argument("--ttl", type=int, default=86_400, help="lifetime in seconds")
    demo = commands.add_parser(
        "seed-demo", help="add realistic demo tickets (after `helpdesk migrate`)"
    )
    demo.add_argument("--tickets", type=int, required=True, help="how many tickets to add")
    demo.add_argument("--customers", type=int, default=2_000, help="demo customers")
    demo.add_argument("--agents", type=int, default=30, help="demo agents")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    export = commands.add_parser("export-schema", help="write the schema as SDL")
    export.add_argument("--output", default="schema.graphql", help="file, or - for stdout")
    commands.add_parser(
        "schema-check", help="breaking changes against the last committed SDL, and schema lint"
    )
    possible = commands.add_parser(
        "possible-types", help="write Apollo Client's possibleTypes (unions, interfaces) as JSON"
    )
    possible.add_argument("--output", default="-", help="file, or - for stdout (the default)")
    args = parser.parse_args(argv)
    if args.command == "schema-check":
        return schema_check()
    if args.command == "possible-types":
        write_output(
            json.dumps(possible_types(build_schema()._schema), indent=2) + "\n", args.output
        )
        return 0

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"helpdesk: configuration error: {exc}", file=sys.stderr)
        return 2
    configure(
        settings.log_level,
        secrets=(
            settings.jwt_secret,
            url_password(settings.database_url),
            url_password(settings.broker_url),
            url_password(settings.rate_limit_url or ""),
        ),
    )

    if args.command == "migrate":
        asyncio.run(db.migrate(settings.database_url))
        print(f"migrated {settings.database_url.split('@')[-1]}")
    elif args.command == "serve":
        if args.migrate:
            asyncio.run(db.migrate(settings.database_url))
        app = create_app(settings)

        async def settle(_: web.Application) -> None:
            # Objects alive after start-up live for the process: keep them out of GC scans.
            gc.collect()
            gc.freeze()
            # Young collections less often, full ones rarely: a full scan of a busy server's
            # heap (every open socket's objects) stalls delivery for hundreds of milliseconds.
            gc.set_threshold(20_000, 50, 1000)

        app.on_startup.append(settle)
        app.on_shutdown.insert(0, exit_by_deadline(settings.shutdown_timeout))
        print(f"serving http://{settings.host}:{settings.port}/graphql", flush=True)
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=None,
            access_log=None,
            loop=uvloop.new_event_loop(),  # leaner sockets, faster fan-out than the stock loop
            # Headers must arrive within the read timeout of the connection opening or going
            # idle; a refused body is drained for at most as long (the body's own deadline is
            # the view's).
            keepalive_timeout=settings.read_timeout,
            lingering_time=settings.read_timeout,
            shutdown_timeout=settings.shutdown_timeout,  # for requests in flight at SIGTERM
        )
    elif args.command == "seed-demo":
        from server.demo import seed_demo

        async def seed() -> int:
            async with db.connected(settings.database_url):
                return await seed_demo(
                    tickets=args.tickets,
                    customers=args.customers,
                    agents=args.agents,
                    seed=args.seed,
                )

        started = time.perf_counter()
        added = asyncio.run(seed())
        print(f"added {added} demo tickets in {time.perf_counter() - started:.1f} s")
    elif args.command == "token":
        print(
            auth.encode(
                sub=args.sub,
                role=args.role,
                name=args.name or args.sub,
                secret=settings.jwt_secret,
                ttl_seconds=args.ttl,
            )
        )
    elif args.command == "export-schema":
        write_output(schema_sdl(), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
