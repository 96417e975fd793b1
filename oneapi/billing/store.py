"""Where the ledger's writes run: one transaction per batch, whatever the backend.

A ledger operation is a plain function over ``execute(sql, params) -> cursor`` (``rowcount``,
``fetchall()``). On SQLite a batch runs in one worker thread on one dedicated sqlite3 connection: one
thread hop per batch instead of one per statement (aiosqlite's cost), and the event loop never waits on
the disk. On PostgreSQL and MySQL the same functions run through pwasyncio's greenlet bridge on the async driver.

SQLite's log is copied back into the database file by ``billing/checkpoint.py``, not inside a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from playhouse.pwasyncio import AsyncSqliteDatabase

from oneapi.billing import checkpoint
from oneapi.db.connect import AsyncDatabase, Databases

Execute = Callable[[str, tuple[Any, ...]], Any]
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
        self._checkpointer = checkpoint.Checkpointer(self._path)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_ms / 1000)
            conn.execute("PRAGMA journal_mode = wal")
            conn.execute("PRAGMA synchronous = normal")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer does it
            # A batch's multi-row log INSERT keeps a statement journal of every page it changes (in WAL mode
            # that is how SQLite can undo just that statement); past 64 KiB SQLite spills it to a new temp
            # file, created, written and deleted for nearly every batch. Kept in memory instead.
            conn.execute("PRAGMA temp_store = memory")
            self._conn = conn
        return self._conn

    def _run_sync(self, operations: list[Operation], restart: bool) -> list[tuple[Any, BaseException | None]]:
        conn = self._connection()
        lock = self._dbs.process_lock
        with lock.held() if lock is not None else contextlib.nullcontext():  # the other workers' writers
            if restart:
                checkpoint.finish(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                results = _apply(operations, lambda sql, params: conn.execute(sql, params))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return results

    async def run(self, operations: list[Operation]) -> list[tuple[Any, BaseException | None]]:
        # The same lock as every other SQLite writer in this process: no busy-handler sleeps. The workers'
        # file lock is taken in the thread, for the transaction alone.
        restart, self._checkpointer.restart_due = self._checkpointer.restart_due, False
        async with self._dbs.write_lock(self._db, processes=False):
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._run_sync, operations,
                                                                       restart)
        self._checkpointer.after_write()
        return results

    async def close(self) -> None:
        def shutdown() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shutdown)
        self._executor.shutdown(wait=True)
        await self._checkpointer.close()


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
