"""Log rows for a separate log database (LOG_SQL_DSN), moved there exactly once from an outbox in the main one.

A settlement's log row is inserted into ``ledger_log_outbox`` in the settlement's own transaction, so the
money and its log row are durable together; a mover task then copies the outbox, in id order, to the log
database and deletes what it copied. Each copied row leaves its ``uid`` in ``ledger_log_moved`` (in the log
database, in the same transaction as the copy), so a crash between the copy and the delete, or a copy whose
commit answer was lost, never writes a row twice. While the log database is away the rows wait in the main
database, not in memory; relaying never waits for them.

A consume row can only enter the outbox once (its settlement's journal row sees to it), so its marker is
dropped once the outbox row is gone. A row from ``Ledger.log()`` carries a uid chosen when it was queued and
may be queued again (a spill file replayed, a retried batch), so its marker is kept for MARKERS_KEPT_SECONDS.
Each process moves the rows it wrote; ``reconcile`` hands the rows of stopped processes to a live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from oneapi.background import cancel_and_wait, unless_cancelled
from oneapi.billing.journal import LogMoved, LogOutbox
from oneapi.billing.logrows import LOG_COLUMNS, insert_logs
from oneapi.billing.store import Execute, Store
from oneapi.billing.writer import LedgerUnavailable, Writer
from oneapi.db.models import Log

logger = logging.getLogger(__name__)

UID = "_outbox_uid"  # in a Ledger.log() row: its uid, kept through spill files and retries
MARKERS_KEPT_SECONDS = 7 * 86_400
_BATCH = 500
_TIMEOUT = 30.0
_MAX_BACKOFF = 2.0
_STOP_WAIT = 5.0
_IDLE = 1.0  # with nothing to move, look again this often (rows handed over by reconcile)
OUTBOX_COLUMNS = ("uid", "instance", "keep")


def put(execute: Execute, param: str, instance: str, rows: list[dict[str, Any]]) -> None:
    """Insert log rows into the outbox (in the caller's transaction)."""
    boxed = [{**row, "uid": row.get(UID) or uuid.uuid4().hex, "instance": instance, "keep": int(UID in row)}
             for row in rows]
    insert_logs(execute, param, boxed, table=LogOutbox._meta.table_name, extra=OUTBOX_COLUMNS)


_CONVERT = [Log._meta.columns[column].python_value for column in LOG_COLUMNS]  # e.g. SQLite's 0/1 to a bool


class Mover:
    """Copies this process's outbox rows to the log database, exactly once, in id order."""

    def __init__(self, main: Writer, logs: Store, instance: str) -> None:
        self._main = main
        self.logs = logs
        self.reachable = True  # False while the log database refuses the copies
        self._instance = instance
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._copied: list[int] = []  # outbox ids in the log database, still to delete from the outbox
        self._copied_forget: list[str] = []  # their markers that can go once they are deleted
        self._forget: list[str] = []  # markers whose outbox rows are deleted
        self._pruned_at = 0.0
        p, table = main.store.param, LogOutbox._meta.table_name
        self._select = (f"SELECT id, uid, keep, {', '.join(LOG_COLUMNS)} FROM {table} WHERE instance = {p} "
                        f"ORDER BY id LIMIT {_BATCH}")
        self._delete = f"DELETE FROM {table} WHERE id IN "

    async def _run(self) -> None:
        delay, failing = 0.05, False
        while True:
            self.wake.clear()
            try:
                moved = await self.move()
            except Exception as exc:  # LedgerUnavailable from either database, or a bug: try again later
                unless_cancelled()
                if not failing:
                    logger.error("log rows wait in the main database's outbox: %s", exc)
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            if failing:
                logger.warning("the log database is back; the outbox is being moved")
            delay, failing = 0.05, False
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), _IDLE)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ledger-log-mover")

    async def stop(self) -> None:
        """Stop the task between two moves (a move cut in half is safe, but leaves noise in the log)."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_STOP_WAIT):
                await self._lock.acquire()
        await cancel_and_wait([self._task])
        self._task = None
        if self._lock.locked():
            self._lock.release()

    async def drain(self) -> None:
        """Move until this process's outbox is empty (raises LedgerUnavailable while a database is away)."""
        while await self.move():
            pass

    async def move(self) -> bool:
        """One step: delete what was copied and read the next rows (main), copy them (log database);
        False when there was nothing to do."""
        async with self._lock:
            copied, p = self._copied, self._main.store.param

            def take(execute: Execute, _: Any) -> list[tuple[Any, ...]]:
                if copied:
                    execute(self._delete + f"({', '.join([p] * len(copied))})", tuple(copied))
                return list(execute(self._select, (self._instance,)).fetchall())

            rows = await self._main.submit(take)
            self._forget += self._copied_forget
            self._copied, self._copied_forget = [], []
            if not rows and not self._forget:
                return bool(copied)
            try:
                async with asyncio.timeout(_TIMEOUT):
                    await self.logs.run([lambda execute: self._copy(execute, rows)])
            except Exception as exc:
                self.reachable = False
                raise LedgerUnavailable(f"the log database refused a write ({exc})") from exc
            self.reachable = True
            self._forget = []
            self._copied = [row[0] for row in rows]
            self._copied_forget = [row[1] for row in rows if not row[2]]
            return True

    def _copy(self, execute: Execute, rows: list[tuple[Any, ...]]) -> None:
        p, marks = self.logs.param, LogMoved._meta.table_name
        now = int(time.time())
        if self._forget:
            execute(f"DELETE FROM {marks} WHERE id IN ({', '.join([p] * len(self._forget))})", tuple(self._forget))
        if time.monotonic() - self._pruned_at > 3600:
            execute(f"DELETE FROM {marks} WHERE moved_at < {p}", (now - MARKERS_KEPT_SECONDS,))
            self._pruned_at = time.monotonic()
        if not rows:
            return
        uids = [row[1] for row in rows]
        seen = {uid for (uid,) in execute(f"SELECT id FROM {marks} WHERE id IN ({', '.join([p] * len(uids))})",
                                         tuple(uids)).fetchall()}
        fresh: list[dict[str, Any]] = []
        for row in rows:
            if row[1] not in seen:
                seen.add(row[1])
                fresh.append({"uid": row[1], **{column: convert(value) for column, convert, value
                                               in zip(LOG_COLUMNS, _CONVERT, row[3:], strict=True)}})
        if fresh:
            insert_logs(execute, p, fresh)
            execute(f"INSERT INTO {marks} (id, moved_at) VALUES {', '.join([f'({p}, {p})'] * len(fresh))}",
                    tuple(value for row in fresh for value in (row["uid"], now)))
