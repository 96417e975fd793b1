"""Open the main and log databases and serialise SQLite writers (migration: oneapi/db/migrate.py).

Rules from STACK.md that this module enforces for everyone else:
- SQLite runs in WAL mode and every write transaction is ``BEGIN IMMEDIATE`` under one in-process lock
  (``write_transaction``), which beats SQLite's busy-handler sleeps by 4-5x;
- a pooled connection is held by the asyncio task that used it, so long-lived tasks call ``release()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from playhouse.pwasyncio import AsyncMySQLDatabase, AsyncPostgresqlDatabase, AsyncSqliteDatabase

from oneapi.config import Settings
from oneapi.db.dsn import parse_dsn
from oneapi.db.models import log_db, main_db

logger = logging.getLogger(__name__)

# What open_database returns: a pwasyncio database (peewee's Database plus aexecute/list/scalar/run/close_pool).
AsyncDatabase = AsyncSqliteDatabase | AsyncPostgresqlDatabase | AsyncMySQLDatabase


def open_database(dsn: str, settings: Settings, pool_size: int) -> AsyncDatabase:
    """One pwasyncio database for an SQL_DSN value ('' means SQLite at SQLITE_PATH)."""
    if not dsn:
        path = settings.sqlite_path
        if path != ":memory:":
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
        busy_ms = settings.sqlite_busy_timeout
        return AsyncSqliteDatabase(
            path,
            timeout=busy_ms / 1000,
            # aiosqlite opens the whole pool at once, a thread per connection: SQLite stays at 20 at most.
            pool_size=1 if path == ":memory:" else min(pool_size, 20),
            pragmas={"journal_mode": "wal", "synchronous": "normal", "busy_timeout": busy_ms},
        )
    parsed = parse_dsn(dsn)
    if parsed.backend == "postgres":
        return AsyncPostgresqlDatabase(parsed.database, pool_size=pool_size, **parsed.options)
    return AsyncMySQLDatabase(parsed.database, pool_size=pool_size, **parsed.options)


class ProcessWriteLock:
    """An flock on a file beside the SQLite database, so the workers of one node (``--workers``) take turns
    at writing instead of meeting SQLite's busy handler, which sleeps in steps of milliseconds. Waiting happens
    in a thread; the usual, uncontended case is one system call."""

    def __init__(self, database_path: str) -> None:
        self._fd = os.open(database_path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    async def __aenter__(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, self._fd, fcntl.LOCK_EX)
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:  # the thread still takes the lock: give it back, never keep it
                await waiting
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                raise

    async def __aexit__(self, *_: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The lock, taken by a thread that may block (the ledger's) for its transaction alone: held from the
        event loop, it also lasts until the loop gets back to the coroutine, which under load is longer than
        the transaction."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class Databases:
    """The main database, the log database (the same object unless LOG_SQL_DSN is set) and their write locks."""

    main: AsyncDatabase
    logs: AsyncDatabase
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    # Set when several workers share an SQLite file: held, inside the in-process lock, by every writer.
    process_lock: ProcessWriteLock | None = None

    @contextlib.asynccontextmanager
    async def write_transaction(self, db: AsyncDatabase | None = None) -> AsyncIterator[None]:
        """A write transaction: BEGIN IMMEDIATE under one lock on SQLite, a plain transaction elsewhere."""
        db = db or self.main
        if isinstance(db, AsyncSqliteDatabase):
            async with self.write_lock(db), db.atomic("IMMEDIATE"):
                yield
        else:
            async with db.atomic():
                yield

    @contextlib.asynccontextmanager
    async def write_lock(self, db: AsyncDatabase | None = None, *, processes: bool = True) -> AsyncIterator[None]:
        """Serialise a single autocommit write against the other SQLite writers (no-op elsewhere); with
        ``processes=False`` only this process's, and the caller takes ``process_lock.held()`` itself."""
        db = db or self.main
        if isinstance(db, AsyncSqliteDatabase):
            async with self._locks.setdefault(id(db), asyncio.Lock()):
                if self.process_lock is None or not processes:
                    yield
                else:
                    async with self.process_lock:
                        yield
        else:
            yield

    async def release(self) -> None:
        """Give this task's pooled connections back (call before a long await, e.g. an upstream stream)."""
        for db in {id(self.main): self.main, id(self.logs): self.logs}.values():
            if _holds_connection(db) and not db.in_transaction():
                await db.aclose()

    async def close(self) -> None:
        await self.main.close_pool()
        if self.logs is not self.main:
            await self.logs.close_pool()
        if self.process_lock is not None:
            self.process_lock.close()


def _holds_connection(db: AsyncDatabase) -> bool:
    """True when the current task has a connection of ``db``. Asked without ``is_closed()``, which registers
    per-task state (and a done-callback) for a task that never connected: most relays never do."""
    states: dict[int, Any] = cast(Any, db)._state._states  # pwasyncio's per-task connection states
    state = states.get(id(asyncio.current_task()))
    return state is not None and not state.closed


def pool_size_for(settings: Settings) -> int:
    """Connections per database per process: pwasyncio's pools keep every connection they open, so the
    pool is as large as the smaller of SQL_MAX_OPEN_CONNS and SQL_MAX_IDLE_CONNS (One API's 1000 / 100 -> 100).
    """
    return max(1, min(settings.sql_max_open_conns, settings.sql_max_idle_conns))


def connect(settings: Settings) -> Databases:
    pool = pool_size_for(settings)
    main = open_database(settings.sql_dsn, settings, pool)
    logs = open_database(settings.log_sql_dsn, settings, pool) if settings.log_sql_dsn else main
    main_db.initialize(main)
    log_db.initialize(logs)
    if settings.debug_sql:
        logging.getLogger("peewee").setLevel(logging.DEBUG)
    shared_sqlite = settings.workers > 1 and isinstance(main, AsyncSqliteDatabase) and main.database != ":memory:"
    return Databases(main, logs, process_lock=ProcessWriteLock(main.database) if shared_sqlite else None)
