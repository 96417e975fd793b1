"""Tools for the chaos tests: gateways as real processes (``python -m oneapi``), a TCP proxy that can cut a
database connection, a request load, and the books read straight from the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from oneapi.db.dsn import parse_dsn
from tests.conftest import ROOT_ACCESS_TOKEN, Gateway

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def eventually(check: Any, seconds: float = 30.0, what: str = "the condition") -> None:
    """Wait on a condition (never a fixed sleep): the machine is noisy, the bound is generous."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        await asyncio.sleep(0.05)


@dataclass
class Node:
    """One gateway process; ``kill()`` is kill -9, ``start()`` again restarts it with the same settings."""

    cwd: Path
    env: dict[str, str]
    args: tuple[str, ...] = ()  # more command-line arguments, e.g. ("--workers", "2")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def gateway(self) -> Gateway:
        assert self.http is not None
        return Gateway(self.url, None, self.http, None)  # type: ignore[arg-type] - only the HTTP helpers are used

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "SQL_DSN", "SQLITE_PATH", "LOG_SQL_DSN")}
        env.update({"PYTHONPATH": str(REPO), "INITIAL_ROOT_ACCESS_TOKEN": ROOT_ACCESS_TOKEN,
                    "SESSION_SECRET": "chaos", "SQLITE_PATH": str(self.cwd / "one-api.db"), **self.env})
        log = open(self.cwd / f"node-{self.port}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen([sys.executable, "-m", "oneapi", "--port", str(self.port), *self.args],
                                     cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # its workers can be killed with it
        log.close()
        if self.http is None:
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        async def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.output()
            try:
                async with self.http.get(self.url + "/api/status") as resp:  # type: ignore[union-attr]
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(up, 60, "the gateway's start")

    def output(self) -> str:
        return (self.cwd / f"node-{self.port}.log").read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # no process outlives the test
                self.proc.wait(10)
                raise AssertionError(f"the node did not stop within 60 s of SIGTERM:\n{self.output()}") from None
        if self.http is not None:
            await self.http.close()
            self.http = None


class Proxy:
    """A TCP proxy to a database; ``cut()`` drops every connection and refuses new ones until ``restore()``.
    ``latency`` delays every chunk on its way to the database (a slow or distant server)."""

    def __init__(self, port: int, latency: float = 0.0) -> None:
        self.target = port
        self.latency = latency
        self.port = free_port()
        self.open = True
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for source, sink, delay in ((reader, up_writer, self.latency), (up_reader, writer, 0.0)):
            task = asyncio.create_task(self._pipe(source, sink, delay))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
        try:
            while data := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    def cut(self) -> None:
        self.open = False
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._pipes):
            task.cancel()


@dataclass
class Load:
    """Concurrent chat requests (half of them streamed) against some nodes until ``stop()``."""

    nodes: list[Node]
    key: str
    concurrency: int = 8
    body: dict[str, Any] = field(default_factory=lambda: {
        "model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]})
    answered: int = 0  # complete answers: the whole body read, [DONE] for a stream
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[Any] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _running: bool = True

    def start(self) -> None:
        for i in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._client(i)))

    async def _client(self, i: int) -> None:
        node = self.nodes[i % len(self.nodes)]
        stream = i % 2 == 0
        async with aiohttp.ClientSession() as http:
            while self._running:
                try:
                    async with http.post(node.url + "/v1/chat/completions", json={**self.body, "stream": stream},
                                         headers={"Authorization": self.key}) as resp:
                        raw = await resp.read()
                        self.statuses[resp.status] += 1
                        if resp.status == 200 and (not stream or b"data: [DONE]" in raw):
                            self.answered += 1
                        elif resp.status != 200:
                            self.bodies.append(raw)
                            await asyncio.sleep(0.02)
                except (TimeoutError, aiohttp.ClientError):
                    self.statuses[0] += 1  # the node died mid-request
                    await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)


async def query(dsn: str, sqlite_path: Path, sql: str) -> list[tuple]:
    """Rows straight from the database a node uses (SQL_DSN, or the SQLite file when it is empty)."""
    if not dsn:
        with contextlib.closing(sqlite3.connect(sqlite_path)) as db:
            return db.execute(sql).fetchall()
    parsed = parse_dsn(dsn)
    if parsed.backend == "postgres":
        import asyncpg

        conn = await asyncpg.connect(database=parsed.database, **parsed.options)
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()
    import aiomysql

    options = {k: v for k, v in parsed.options.items() if k in ("host", "port", "user", "password")}
    conn = await aiomysql.connect(db=parsed.database, autocommit=True, **options)
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
            return [tuple(row) for row in await cur.fetchall()]
    finally:
        conn.close()


@dataclass
class Books:
    """One user's and one token's money, read from the database."""

    user_quota: int
    user_used: int
    requests: int
    token_remain: int
    token_used: int
    logged: int  # the sum of the consume logs' quota
    logs: int  # how many consume logs
    held: int  # reservations still open or awaiting their balance correction


async def outbox(dsn: str, sqlite_path: Path) -> int:
    """How many log rows wait in the main database for a separate log database."""
    [(count,)] = await query(dsn, sqlite_path, "SELECT COUNT(*) FROM ledger_log_outbox")
    return int(count)


async def duplicate_consume_logs(log_dsn: str, sqlite_path: Path) -> int:
    """Consume log rows beyond the first for one request id (a row written twice)."""
    [(rows, distinct)] = await query(log_dsn, sqlite_path,
                                     "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM logs WHERE type = 2")
    return int(rows) - int(distinct)


async def held(dsn: str, sqlite_path: Path) -> int:
    """Reservations open or settled but not yet applied (the journal's rows in states 0 and 1), and batch mode's
    pending sums."""
    [(count,)] = await query(dsn, sqlite_path, "SELECT COUNT(*) FROM ledger_reservations WHERE state IN (0, 1)")
    [(sums,)] = await query(dsn, sqlite_path, "SELECT COUNT(*) FROM ledger_pending")
    return int(count) + int(sums)


async def books(dsn: str, sqlite_path: Path, user_id: int, token_name: str, log_dsn: str | None = None) -> Books:
    """The books once nothing is held and (with a log database) the outbox is empty, or as they are after 10 s:
    a live node commits the settlements of answered requests just after answering (they wait in its
    write-ahead file), so reading at once would catch a reservation and its settlement apart."""
    deadline = time.monotonic() + 10
    while True:
        holding = await held(dsn, sqlite_path)
        waiting = await outbox(dsn, sqlite_path) if log_dsn is not None else 0
        if (holding == 0 and waiting == 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    [(quota, used, requests)] = await query(
        dsn, sqlite_path, f"SELECT quota, used_quota, request_count FROM users WHERE id = {user_id}")
    [(remain, token_used)] = await query(
        dsn, sqlite_path, f"SELECT remain_quota, used_quota FROM tokens WHERE name = '{token_name}'")
    [(logged, logs)] = await query(
        dsn if log_dsn is None else log_dsn, sqlite_path,
        f"SELECT COALESCE(SUM(quota), 0), COUNT(*) FROM logs WHERE type = 2 AND user_id = {user_id}")
    return Books(quota, used, requests, remain, token_used, int(logged), logs, holding)
