"""Where the ledger's writes run: one transaction per batch, whatever the backend.

A ledger operation is a plain function over ``execute(sql, params) -> cursor`` (``rowcount``,
``fetchall()``). On SQLite a batch runs in one worker thread on one dedicated sqlite3 connection: one
thread hop per batch instead of one per statement (aiosqlite's cost), and the event loop never waits on
the disk. On PostgreSQL and MySQL the same functions run through pwasyncio's greenlet bridge on the async driver.

SQLite copies its write-ahead log back into the database file (a checkpoint, with two fsyncs) when the log
passes 1,000 pages, inside whichever commit crosses that line: every ~40th request waited about 5 ms for it.
The ledger's connection does not checkpoint; a second thread does, on its own connection, a little after
writes (PASSIVE: it never blocks a writer or a reader).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playhouse.pwasyncio import AsyncSqliteDatabase

from oneapi.db.connect import AsyncDatabase, Databases

logger = logging.getLogger(__name__)

Execute = Callable[[str, tuple[Any, ...]], Any]
CHECKPOINT_DELAY = 0.2  # seconds after a write before the log is copied back: one checkpoint covers many writes
Operation = Callable[[Execute], Any]


class OperationFailed(Exception):
    """An operation that decided to change nothing (e.g. a reservation the balance cannot cover).

    Raising it inside a batch undoes nothing else: the operation must leave the rows as it found them.
    """


class Store:
    """Runs batches of operations, each batch in one transaction."""

    param = "?"

    async def run(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        """Each operation's (result, OperationFailed or None), in order; other errors roll back the batch."""
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _apply(operations: list[Operation], execute: Execute) -> list[tuple[Any, BaseException | None]]:
    results: list[tuple[Any, BaseException | None]] = []
    for operation in operations:
        try:
            results.append((operation(execute), None))
        except OperationFailed as exc:
            results.append((None, exc))
    return results


class SqliteStore(Store):
    def __init__(self, dbs: Databases, db: AsyncSqliteDatabase, busy_timeout_ms: int) -> None:
        self._dbs = dbs
        self._db = db
        self._path = db.database
        self._busy_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ledger-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="ledger-checkpoint")
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpoint_due: asyncio.TimerHandle | asyncio.Future[None] | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_ms / 1000)
            conn.execute("PRAGMA journal_mode = wal")
            conn.execute("PRAGMA synchronous = normal")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does it
            self._conn = conn
        return self._conn

    def _checkpoint_sync(self) -> None:
        if self._checkpoint_conn is None:
            self._checkpoint_conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _schedule_checkpoint(self) -> None:
        if self._checkpoint_due is None:
            self._checkpoint_due = asyncio.get_running_loop().call_later(CHECKPOINT_DELAY, self._checkpoint)

    def _checkpoint(self) -> None:
        done = asyncio.get_running_loop().run_in_executor(self._checkpointer, self._checkpoint_sync)
        self._checkpoint_due = done
        done.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpoint_due = None
        if not done.cancelled() and done.exception() is not None:  # e.g. the disk is full: the next write retries
            logger.warning("checkpointing the SQLite log failed: %s", done.exception())

    def _run_sync(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = _apply(operations, lambda sql, params: conn.execute(sql, params))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results

    async def run(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        # The same lock as every other SQLite writer in this process: no busy-handler sleeps.
        async with self._dbs.write_lock(self._db):
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._run_sync, operations)
        self._schedule_checkpoint()
        return results

    async def close(self) -> None:
        def shutdown() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        def shutdown_checkpoints() -> None:
            if self._checkpoint_conn is not None:
                self._checkpoint_conn.close()
                self._checkpoint_conn = None

        if isinstance(self._checkpoint_due, asyncio.TimerHandle):
            self._checkpoint_due.cancel()
            self._checkpoint_due = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, shutdown)
        self._executor.shutdown(wait=True)
        await loop.run_in_executor(self._checkpointer, shutdown_checkpoints)  # after any checkpoint under way
        self._checkpointer.shutdown(wait=True)


class AsyncStore(Store):
    """PostgreSQL / MySQL through the pooled async driver."""

    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self.param = db.param

    def _run_sync(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        return _apply(operations, lambda sql, params: self._db.execute_sql(sql, params))

    async def run(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        try:
            async with self._db.atomic():
                return await self._db.run(self._run_sync, operations)
        finally:
            if not self._db.in_transaction():
                await self._db.aclose()


def open_store(dbs: Databases, db: AsyncDatabase, busy_timeout_ms: int) -> Store:
    if isinstance(db, AsyncSqliteDatabase) and db.database != ":memory:":
        return SqliteStore(dbs, db, busy_timeout_ms)
    return AsyncStore(db)
