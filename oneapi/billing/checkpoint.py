"""SQLite's write-ahead log copied back into the database file off the request path.

SQLite does this copy (a checkpoint: the log's pages written into the file, with an fsync of each) inside
whichever commit takes the log past 1,000 pages. A settlement writes about 25 pages, so every ~40th request
waited ~5 ms for the copy. The ledger's connection therefore does not checkpoint by itself: a thread of its
own copies the log shortly after writes (PASSIVE, so it never blocks a writer or a reader). Under steady
writes that copy never quite catches up, and a log starts over only once it is copied completely, so when it
has grown past RESTART_FRAMES the ledger's thread copies the few pages written since, between two batches,
and its next transaction starts the log over: the log stays about as short as SQLite keeps it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

# Seconds after a write before the copy. One copy covers that time's writes, so a page nearly every
# transaction writes (an index's last leaf, a balance row) is copied and fsynced once for all of them: at c=64,
# 0.5 s instead of 0.05 took the copier from 0.004 to 0.001 ms of CPU per request on an empty database and
# from 0.017 to 0.006 on a million logs. With synchronous=NORMAL a commit survives a power cut once copied, so
# that is also how long a power cut (not a kill -9, which loses nothing) can take back. The log grows by at
# most that much past RESTART_FRAMES.
DELAY = 0.5
RESTART_FRAMES = 1000  # pages in the log (SQLite's own autocheckpoint size) past which it is made to start over


def finish(conn: sqlite3.Connection) -> None:
    """On the writer's connection, outside a transaction: copy what the checkpointer has not."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


class Checkpointer:
    """Copies one SQLite database's log back in a thread of its own, a little after each write."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._pending: asyncio.TimerHandle | asyncio.Future[int] | None = None
        self.restart_due = False  # the log is long: the writer should finish the copy (``finish``) and start over
        self._closed = False

    def after_write(self) -> None:
        if self._pending is None and not self._closed:
            self._pending = asyncio.get_running_loop().call_later(DELAY, self._start)

    def _start(self) -> None:
        copying = asyncio.get_running_loop().run_in_executor(self._executor, self._copy)
        self._pending = copying
        copying.add_done_callback(self._copied)

    def _copy(self) -> int:
        """The pages in the log (all of them copied unless a writer added some meanwhile)."""
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        _, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)

    def _copied(self, copying: asyncio.Future[int]) -> None:
        self._pending = None
        if copying.cancelled():
            return
        if (error := copying.exception()) is not None:  # e.g. a full disk: the next write tries again
            logger.warning("copying the SQLite log into the database failed: %s", error)
        elif copying.result() >= RESTART_FRAMES:
            self.restart_due = True

    async def close(self) -> None:
        self._closed = True  # a write that ends while this waits for the copy must not schedule another

        def close_connection() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if isinstance(self._pending, asyncio.TimerHandle):
            self._pending.cancel()
            self._pending = None
        await asyncio.get_running_loop().run_in_executor(self._executor, close_connection)  # after a copy under way
        self._executor.shutdown(wait=True)
