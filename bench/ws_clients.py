"""Load generator: N graphql-transport-ws subscribers in one process, recording every arrival.

    .venv/bin/python -m bench.ws_clients --url ws://127.0.0.1:8000/graphql --count 1000 \\
        --mint agent:bench-agent:50 --out /tmp/arrivals.json \\
        --query 'subscription { ticketStatusChanged { id ticket { id } } }'

Each connection sends `connection_init` with `{"Authorization": "Bearer <token>"}`, waits for the
ack and subscribes; connections open `--concurrency` at a time. Then, for every `next`, it notes
`time.time()` (comparable with the publisher's clock: one machine), the event's `id`, `ticket.id`
and `at` (when selected), and nothing else.

Two engines. `raw` (default): a minimal RFC 6455 client on asyncio.Protocol (uvloop by default, as
the server) handling each message inside `data_received`: ~10 µs of client CPU per message.
`aiohttp`: `ws_connect` and one reader task per connection: ~40 µs per message, which at 1,000
subscribers put ~35 ms of client-side queueing into every latency (p50 49 ms instead of 16).

graphql-transport-ws does not acknowledge a subscription, so the parent learns that they are live
from the first event every connection gets (see `Clients.warm_up`).

Talks to its parent in JSON lines: stdout `{"type": "ready", ...}` once every subscription was sent,
then the answers to commands read from stdin: `status` (counts) and `stop` (write `--out`, answer
`{"type": "done", ...}`, exit). The scenarios drive it through `Clients`.

With `--reconnect` (raw engine), a subscribed socket that closes is opened again at once and
subscribes with the variable `after` set to the last event id it got (the query declares
`$after: String`), as a client behind a balancer does when its server dies; the time from the close
to the new subscription is noted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import os
import random
import resource
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import orjson

from bench.common import LOAD_CPU, PYTHON, ROOT, percentile, pinned, raise_fd_limit

PROTOCOL = "graphql-transport-ws"


def _handshake(path: str, host: str, port: int) -> bytes:
    """A WebSocket upgrade request for graphql-transport-ws, with a fresh key."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
    ).encode()


STATUS_CHANGED = "subscription { ticketStatusChanged { id ticket { id } toStatus at } }"
ERRORS_KEPT = 20


# --- the load-generator process -------------------------------------------------------------


@dataclass
class _Recorder:
    """Everything the readers note; plain dicts and lists, no per-message objects."""

    arrivals: dict[str, list[float]] = field(default_factory=dict)  # event id -> first arrivals
    tickets: dict[str, str | None] = field(default_factory=dict)  # event id -> ticket id
    stamps: dict[str, str | None] = field(default_factory=dict)  # event id -> its `at`, if asked
    duplicates: dict[str, int] = field(default_factory=dict)  # event id -> repeats on a socket
    received: int = 0  # `next` messages, duplicates included
    receivers: int = 0  # connections that got at least one `next`
    subscribed: int = 0
    failed: int = 0
    closed: int = 0  # sockets the server closed (or that broke) after subscribing
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    last: dict[int, str] = field(default_factory=dict)  # connection -> its latest event id
    reconnect_seconds: list[float] = field(default_factory=list)  # closed -> subscribed again
    reconnect_failed: int = 0

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(text[:300])

    def note(self, seen: set[str], index: int, now: float, raw: str | bytes) -> str | None:
        """One protocol message of connection `index` (`seen`: its event ids); returns its type."""
        data = orjson.loads(raw)
        kind = data.get("type")
        if kind == "next":
            self.received += 1
            payload = data.get("payload") or {}
            body = payload.get("data")
            if payload.get("errors") or not body:
                self.error(f"connection {index}: {raw[:300]!r}")
                return kind
            event = next(iter(body.values()))
            event_id = str(event.get("id"))
            if not seen:
                self.receivers += 1
            if event_id in seen:
                self.duplicates[event_id] = self.duplicates.get(event_id, 0) + 1
                return kind
            seen.add(event_id)
            self.last[index] = event_id
            times = self.arrivals.get(event_id)
            if times is None:
                self.arrivals[event_id] = times = []
                ticket = event.get("ticket")
                self.tickets[event_id] = None if ticket is None else str(ticket.get("id"))
                self.stamps[event_id] = event.get("at")
            times.append(now)
        elif kind in ("error", "complete"):
            self.error(f"connection {index}: {raw[:300]!r}")
        return kind


def _tokens(args: argparse.Namespace) -> list[str]:
    if args.tokens:
        tokens = [t.strip() for t in Path(args.tokens).read_text().splitlines() if t.strip()]
        if not tokens:
            raise SystemExit(f"no tokens in {args.tokens}")
        return tokens
    from server.auth import encode

    role, prefix, users = args.mint.split(":")
    return [
        encode(
            sub=f"{prefix}-{i}",
            role=role,
            name=f"{prefix} {i}",
            secret=args.secret,
            ttl_seconds=args.ttl,
        )
        for i in range(int(users))
    ]


async def _open(
    session: aiohttp.ClientSession, url: str, init: str, subscribe: str, compress: int
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url, protocols=[PROTOCOL], compress=compress, autoping=True)
    try:
        await ws.send_str(init)
        message = await ws.receive(timeout=60)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"no connection_ack: {message.type.name} {ws.close_code}")
        answer = orjson.loads(message.data)
        if answer.get("type") != "connection_ack":
            raise ConnectionError(f"no connection_ack: {message.data[:200]}")
        await ws.send_str(subscribe)
    except BaseException:
        await ws.close()
        raise
    return ws


async def _aiohttp_subscriber(
    index: int,
    session: aiohttp.ClientSession,
    url: str,
    init: str,
    subscribe: str,
    gate: asyncio.Semaphore,
    state: _Recorder,
    on_settled: Callable[[], None],
    compress: int,
) -> None:
    async with gate:
        ws = None
        for attempt in range(3):
            try:
                ws = await _open(session, url, init, subscribe, compress)
                break
            except (aiohttp.ClientError, OSError, ConnectionError, TimeoutError) as exc:
                if attempt == 2:
                    state.failed += 1
                    state.error(f"connection {index}: {type(exc).__name__}: {exc}")
                else:
                    await asyncio.sleep(0.5 * (attempt + 1))
        if ws is None:
            on_settled()
            return
        state.subscribed += 1
        on_settled()
    seen: set[str] = set()
    text = aiohttp.WSMsgType.TEXT
    try:
        async for message in ws:
            if message.type is not text:
                continue
            kind = state.note(seen, index, time.time(), message.data)
            if kind == "ping":
                await ws.send_str('{"type":"pong"}')
            elif kind in ("error", "complete"):
                break
    except (aiohttp.ClientError, OSError) as exc:
        state.error(f"connection {index}: {type(exc).__name__}: {exc}")
    state.closed += 1
    if ws.close_code not in (None, 1000):
        state.error(f"connection {index}: closed with {ws.close_code}")


# The raw engine: RFC 6455 over an asyncio.Protocol, each message handled in `data_received` (no
# task wakes up per message). A tenth of aiohttp's client cost per message, so that the figures
# measure the server, not the load generator. Only what a graphql-transport-ws server sends is
# understood: unfragmented, uncompressed text frames, ping and close.


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    keys = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(size, "big")
    return head + mask + masked


class _RawSubscriber(asyncio.Protocol):
    def __init__(
        self,
        index: int,
        state: _Recorder,
        handshake: bytes,
        init: bytes,
        subscribe: bytes,
        seen: set[str] | None = None,
    ) -> None:
        self.index = index
        self.state = state
        self.handshake = handshake
        self.init = init
        self.subscribe = subscribe
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.subscribed = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.seen: set[str] = set() if seen is None else seen  # kept across reconnections
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.handshake)

    def _fail(self, reason: str) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(reason))
        elif not self.closed:
            self.state.error(f"connection {self.index}: {reason}")
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        if self.subscribed.done() and not self.subscribed.exception() and not self.closed:
            self.closed = True
            self.state.closed += 1
            if exc is not None:
                self.state.error(f"connection {self.index}: {type(exc).__name__}: {exc}")
        elif not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(f"no upgrade: {head[:200]!r}")
                return
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(self.init)
        position, available = 0, len(buffer)
        while available - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            size, start = second & 0x7F, position + 2
            if size == 126:
                if available - position < 4:
                    break
                size, start = int.from_bytes(buffer[start : start + 2], "big"), start + 2
            elif size == 127:
                if available - position < 10:
                    break
                size, start = int.from_bytes(buffer[start : start + 8], "big"), start + 8
            if available < start + size:
                break
            payload = bytes(buffer[start : start + size])
            position = start + size
            opcode = first & 0x0F
            if second & 0x80 or not first & 0x80 or first & 0x70:
                self._fail("masked, fragmented or compressed frame")
                return
            if opcode == 0x1:
                self._message(now, payload)
            elif opcode == 0x9:
                assert self.transport is not None
                self.transport.write(_frame(0xA, payload))
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if code != 1000:
                    self._fail(f"closed with {code} {payload[2:200]!r}")
                assert self.transport is not None
                self.transport.close()
                return
        del buffer[:position]

    def _message(self, now: float, payload: bytes) -> None:
        if not self.subscribed.done():
            if orjson.loads(payload).get("type") != "connection_ack":
                self._fail(f"no connection_ack: {payload[:200]!r}")
                return
            assert self.transport is not None
            self.transport.write(self.subscribe)
            self.subscribed.set_result(None)
            return
        if self.state.note(self.seen, self.index, now, payload) == "ping":
            assert self.transport is not None
            self.transport.write(_frame(0x1, b'{"type":"pong"}'))


async def _raw_subscriber(
    index: int,
    url: str,
    init: str,
    subscribe: str,
    gate: asyncio.Semaphore,
    state: _Recorder,
    on_settled: Callable[[], None],
    transports: list[asyncio.Transport],
    resubscribe: Callable[[str | None], str] | None = None,
) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    handshake = _handshake(parts.path, host, port)
    loop = asyncio.get_running_loop()
    protocol: _RawSubscriber | None = None
    async with gate:
        for attempt in range(3):
            transport = None
            try:
                async with asyncio.timeout(60):
                    transport, protocol = await loop.create_connection(
                        lambda: _RawSubscriber(
                            index,
                            state,
                            handshake,
                            _frame(1, init.encode()),
                            _frame(1, subscribe.encode()),
                        ),
                        host,
                        port,
                    )
                    await protocol.subscribed
                transports.append(transport)
                state.subscribed += 1
                break
            except (OSError, ConnectionError, TimeoutError) as exc:
                if transport is not None:
                    transport.close()
                if attempt == 2:
                    state.failed += 1
                    state.error(f"connection {index}: {type(exc).__name__}: {exc}")
                else:
                    await asyncio.sleep(0.5 * (attempt + 1))
                protocol = None
        on_settled()
    if resubscribe is None or protocol is None:
        return
    while True:
        await protocol.lost
        lost_at = time.monotonic()
        subscription = _frame(1, resubscribe(state.last.get(index)).encode())
        protocol = await _resubscribed(index, url, init, subscription, state, protocol.seen)
        if protocol is None:
            state.reconnect_failed += 1
            return
        assert protocol.transport is not None
        transports.append(protocol.transport)
        state.reconnect_seconds.append(time.monotonic() - lost_at)


async def _resubscribed(
    index: int, url: str, init: str, subscription: bytes, state: _Recorder, seen: set[str]
) -> _RawSubscriber | None:
    """A new socket for connection `index`, subscribed with `subscription`; None when it could
    not get one within a minute. The first attempt is at once; a refused one is retried after a
    jittered, doubling wait (0.1 s to 2 s, ×0.5–1.5), as clients do so that a thousand of them
    do not retry in step."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 60
    wait = 0.1
    while time.monotonic() < deadline:
        handshake = _handshake(parts.path, host, port)
        transport = None
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                transport, protocol = await loop.create_connection(
                    functools.partial(
                        _RawSubscriber,
                        index,
                        state,
                        handshake,
                        _frame(1, init.encode()),
                        subscription,
                        seen,
                    ),
                    host,
                    port,
                )
                await protocol.subscribed
            return protocol
        except (OSError, ConnectionError, TimeoutError) as exc:
            if transport is not None:
                transport.close()
            state.error(f"connection {index}, reconnecting: {type(exc).__name__}: {exc}")
            await asyncio.sleep(wait * random.uniform(0.5, 1.5))
            wait = min(2.0, wait * 2)
    return None


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stdin_commands(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, "stop")  # the parent went away


async def _run(args: argparse.Namespace) -> None:
    raise_fd_limit()
    tokens = _tokens(args)
    urls: list[str] = args.url
    variables = orjson.loads(args.variables) if args.variables else {}
    subscribe = orjson.dumps(
        {"id": "1", "type": "subscribe", "payload": {"query": args.query, "variables": variables}}
    ).decode()

    def resubscribe(after: str | None) -> str:
        again = {**variables, "after": after} if after else variables
        payload = {"query": args.query, "variables": again}
        return orjson.dumps({"id": "1", "type": "subscribe", "payload": payload}).decode()

    state = _Recorder()
    started = time.monotonic()
    settled = 0
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    threading.Thread(target=stdin_commands, args=(loop, commands), daemon=True).start()

    def on_settled() -> None:
        nonlocal settled
        settled += 1
        if settled == args.count:
            emit(
                {
                    "type": "ready",
                    "subscribed": state.subscribed,
                    "failed": state.failed,
                    "seconds": round(time.monotonic() - started, 2),
                    "errors": state.errors[:5],
                }
            )

    transports: list[asyncio.Transport] = []
    async with contextlib.AsyncExitStack() as stack:
        if args.engine == "aiohttp":
            session = await stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0),
                    timeout=aiohttp.ClientTimeout(total=None, connect=60, sock_connect=60),
                )
            )
        gate = asyncio.Semaphore(args.concurrency)
        tasks = []
        for i in range(args.count):
            token = tokens[i % len(tokens)]
            init = orjson.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            ).decode()
            url = urls[i % len(urls)]
            if args.engine == "aiohttp":
                one = _aiohttp_subscriber(
                    i, session, url, init, subscribe, gate, state, on_settled, args.compress
                )
            else:
                one = _raw_subscriber(
                    i,
                    url,
                    init,
                    subscribe,
                    gate,
                    state,
                    on_settled,
                    transports,
                    resubscribe if args.reconnect else None,
                )
            tasks.append(asyncio.create_task(one))
        cpu_at_ready: float | None = None
        while True:
            command = await commands.get()
            if command == "status":
                if cpu_at_ready is None and settled == args.count:
                    cpu_at_ready = cpu_seconds()
                emit(
                    {
                        "type": "status",
                        "subscribed": state.subscribed,
                        "failed": state.failed,
                        "received": state.received,
                        "receivers": state.receivers,
                        "closed": state.closed,
                        "error_count": state.error_count,
                        "reconnected": len(state.reconnect_seconds),
                        "reconnect_failed": state.reconnect_failed,
                    }
                )
            elif command == "reset-cpu":
                cpu_at_ready = cpu_seconds()
                emit({"type": "reset-cpu"})
            elif command == "stop":
                break
        cpu = cpu_seconds() - (cpu_at_ready or 0.0)
        result = {
            "arrivals": state.arrivals,
            "tickets": state.tickets,
            "stamps": state.stamps,
            "duplicates": state.duplicates,
            "subscribed": state.subscribed,
            "failed": state.failed,
            "received": state.received,
            "closed": state.closed,
            "error_count": state.error_count,
            "errors": state.errors,
            "cpu_seconds": cpu,
            "reconnect_seconds": state.reconnect_seconds,
            "reconnect_failed": state.reconnect_failed,
        }
        await asyncio.to_thread(Path(args.out).write_bytes, orjson.dumps(result))
        emit({"type": "done", "received": state.received, "cpu_seconds": round(cpu, 2)})
        for task in tasks:
            task.cancel()
        for transport in transports:
            transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    from server.config import DEV_JWT_SECRET

    parser = argparse.ArgumentParser(prog="bench.ws_clients", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        action="append",
        required=True,
        help="ws://…/graphql; repeat to spread connections round-robin",
    )
    parser.add_argument("--count", type=int, required=True, help="connections")
    parser.add_argument("--query", default=STATUS_CHANGED, help="the subscription document")
    parser.add_argument("--variables", default=None, help="JSON object")
    tokens = parser.add_mutually_exclusive_group(required=True)
    tokens.add_argument(
        "--tokens", help="file with one token per line; connection i uses line i %% lines"
    )
    tokens.add_argument(
        "--mint", help="ROLE:PREFIX:USERS: connection i is user PREFIX-(i %% USERS) with that role"
    )
    parser.add_argument("--secret", default=DEV_JWT_SECRET)
    parser.add_argument("--ttl", type=int, default=3600)
    parser.add_argument("--concurrency", type=int, default=200, help="connections opened at once")
    parser.add_argument(
        "--engine",
        choices=("raw", "aiohttp"),
        default="raw",
        help="raw: RFC 6455 on asyncio.Protocol (cheap); aiohttp: ws_connect + a reader task each",
    )
    parser.add_argument(
        "--compress", type=int, default=0, help="aiohttp engine: permessage-deflate window bits"
    )
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the event loop"
    )
    parser.add_argument(
        "--reconnect",
        action="store_true",
        help="raw engine: reopen a closed socket and resubscribe with `after` = its last event id",
    )
    parser.add_argument("--out", required=True, help="result file (JSON), written on `stop`")
    args = parser.parse_args(argv)
    if args.reconnect and args.engine != "raw":
        parser.error("--reconnect needs the raw engine")
    with contextlib.suppress(KeyboardInterrupt):
        if args.loop == "uvloop":
            import uvloop

            uvloop.run(_run(args))
        else:
            asyncio.run(_run(args))


# --- the parent's side ----------------------------------------------------------------------


class ChildError(RuntimeError):
    pass


class Child:
    """A pinned child process speaking JSON lines on stdin/stdout; stopped by PID on exit."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        command: Sequence[str],
        *,
        name: str,
        cpu: int | None = LOAD_CPU,
        env: dict[str, str] | None = None,
    ) -> AsyncIterator[Child]:
        process = await asyncio.create_subprocess_exec(
            *pinned(command, cpu),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        try:
            yield cls(process, name)
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(process.wait(), 15)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
                    await process.wait()

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()

    async def receive(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), within)
        except TimeoutError:
            raise ChildError(f"{self.name}: no answer within {within:.0f} s") from None
        if not line:
            code = await self.process.wait()
            raise ChildError(f"{self.name} exited with {code} (its stderr is above)")
        return orjson.loads(line)

    async def ask(self, command: str, within: float = 30.0) -> dict[str, Any]:
        await self.send(command)
        return await self.receive(within)


@dataclass
class Results:
    arrivals: dict[str, list[float]]
    tickets: dict[str, str | None]
    stamps: dict[str, str | None]
    duplicates: dict[str, int]
    subscribed: int
    failed: int
    received: int
    closed: int
    error_count: int
    errors: list[str]
    cpu_seconds: float
    reconnect_seconds: list[float] = field(default_factory=list)
    reconnect_failed: int = 0

    def by_ticket(self) -> dict[str, list[float]]:
        """First arrivals per ticket id (over all its events)."""
        grouped: dict[str, list[float]] = {}
        for event_id, times in self.arrivals.items():
            ticket = self.tickets.get(event_id)
            if ticket is not None:
                grouped.setdefault(ticket, []).extend(times)
        return grouped

    def since_stamp_ms(self, event_ids: Sequence[str] | None = None) -> list[float]:
        """Arrival minus the event's own `at` (when the subscription selected it), in ms."""
        from datetime import datetime

        samples = []
        for event_id in self.arrivals if event_ids is None else event_ids:
            stamp = self.stamps.get(event_id)
            if stamp:
                at = datetime.fromisoformat(stamp).timestamp()
                samples += [(t - at) * 1000 for t in self.arrivals.get(event_id, ())]
        return samples

    def duplicates_of(self, event_ids: Sequence[str]) -> int:
        return sum(self.duplicates.get(e, 0) for e in event_ids)


class Clients:
    """The parent's handle on a `bench.ws_clients` process."""

    def __init__(self, child: Child, count: int, out: Path) -> None:
        self.child = child
        self.count = count
        self.out = out

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        urls: Sequence[str],
        count: int,
        *,
        mint: str | None = None,
        tokens: Path | None = None,
        query: str = STATUS_CHANGED,
        variables: dict[str, Any] | None = None,
        concurrency: int = 200,
        engine: str = "raw",
        loop: str = "uvloop",
        compress: int = 0,
        cpu: int | None = LOAD_CPU,
        reconnect: bool = False,
    ) -> AsyncIterator[Clients]:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="helpdesk-ws-") as folder:
            out = Path(folder) / "arrivals.json"
            command = [PYTHON, "-m", "bench.ws_clients", "--count", str(count), "--query", query]
            command += ["--concurrency", str(concurrency), "--out", str(out)]
            command += ["--engine", engine, "--loop", loop, "--compress", str(compress)]
            for url in urls:
                command += ["--url", url]
            if mint is not None:
                command += ["--mint", mint]
            elif tokens is not None:
                command += ["--tokens", str(tokens)]
            if variables:
                command += ["--variables", orjson.dumps(variables).decode()]
            if reconnect:
                command += ["--reconnect"]
            async with Child.start(command, name="bench.ws_clients", cpu=cpu) as child:
                yield cls(child, count, out)

    async def ready(self, within: float = 300.0) -> dict[str, Any]:
        """Wait until every connection was acknowledged and its subscription sent."""
        message = await self.child.receive(within)
        if message.get("type") != "ready":
            raise ChildError(f"bench.ws_clients: expected ready, got {message}")
        if message["failed"]:
            raise ChildError(
                f"{message['failed']} of {self.count} connections failed: {message['errors']}"
            )
        return message

    async def status(self) -> dict[str, Any]:
        return await self.child.ask("status")

    async def warm_up(
        self, publish: Callable[[int], Awaitable[object]], *, rounds: int = 10, within: float = 60.0
    ) -> int:
        """Publish (round 0, 1, …) until every connection got an event: its subscription is live.
        A new round starts when arrivals stop for a second. Returns the rounds used."""
        for round_ in range(rounds):
            await publish(round_)
            deadline = time.monotonic() + within
            status = await self.status()
            changed = time.monotonic()
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                fresh = await self.status()
                if fresh["receivers"] >= self.count:
                    await self.child.ask("reset-cpu")
                    return round_ + 1
                if fresh["received"] != status["received"]:
                    changed = time.monotonic()
                elif time.monotonic() - changed > 1.0:
                    break
                status = fresh
        status = await self.status()
        raise ChildError(
            f"after {rounds} warm-up events only {status['receivers']} of {self.count} "
            f"subscriptions received anything: {status}"
        )

    async def wait_received(self, total: int, within: float) -> tuple[dict[str, Any], bool]:
        """Poll until `received` reaches `total`; (last status, whether it did)."""
        deadline = time.monotonic() + within
        while True:
            status = await self.status()
            if status["received"] >= total:
                return status, True
            if time.monotonic() >= deadline:
                return status, False
            await asyncio.sleep(0.02)

    async def wait_quiet(self, quiet: float = 1.0, within: float = 60.0) -> dict[str, Any]:
        """Poll until `received` stops growing for `quiet` seconds."""
        deadline = time.monotonic() + within
        status = await self.status()
        changed = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            fresh = await self.status()
            if fresh["received"] != status["received"]:
                changed = time.monotonic()
            status = fresh
            if time.monotonic() - changed >= quiet:
                break
        return status

    async def stop(self, within: float = 120.0) -> Results:
        await self.child.ask("stop", within)
        data = orjson.loads(await asyncio.to_thread(self.out.read_bytes))
        return Results(**data)


# --- shared figures -------------------------------------------------------------------------


def latency_cells(samples_ms: Sequence[float]) -> list[str]:
    """p50, p99 and max, in ms."""
    if not samples_ms:
        return ["-", "-", "-"]
    return [f"{percentile(samples_ms, q):.1f}" for q in (0.5, 0.99)] + [f"{max(samples_ms):.1f}"]


def cpu_ticks(pid: int) -> float:
    """CPU seconds (user + system) a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
