"""Shutdown never hangs on a background loop that lost its cancel, and nothing is scheduled on a closed part.

The database bridge can absorb a cancel that arrives during a statement; the loop then goes round and waits
for its next message (a cache change from the supervisor's socket), and a plain ``cancel(); await task``
waited for it for ever: a two-worker node once stayed up 60 s after SIGTERM that way."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from oneapi.background import cancel_and_wait
from oneapi.billing.checkpoint import Checkpointer


async def _loses_its_first_cancel(started: asyncio.Event, never: asyncio.Event) -> None:
    try:
        started.set()
        await asyncio.sleep(3600)  # the statement during which the cancel arrives
    except asyncio.CancelledError:
        pass  # what the bridge does with it
    await never.wait()  # the next message, which never comes at shutdown


async def test_a_loop_that_lost_its_cancel_is_cancelled_again_at_its_next_wait():
    started, never = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_loses_its_first_cancel(started, never))
    await started.wait()
    await asyncio.wait_for(cancel_and_wait([task], timeout=5), 5)
    assert task.cancelled()


async def test_a_task_that_will_not_stop_is_logged_and_left_after_the_timeout(caplog):
    stubborn_until = asyncio.Event()

    async def stubborn() -> None:
        while not stubborn_until.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, "oneapi.background"):
        await asyncio.wait_for(cancel_and_wait([task, None], timeout=0.3), 5)
    assert not task.done() and "did not stop: stubborn" in caplog.text
    stubborn_until.set()
    task.cancel()
    await asyncio.wait_for(task, 5)


async def test_a_write_that_ends_while_the_checkpointer_closes_schedules_no_copy(tmp_path):
    path = tmp_path / "db.sqlite"
    sqlite3.connect(path).execute("PRAGMA journal_mode = wal").close()
    checkpointer = Checkpointer(str(path))
    closing = asyncio.create_task(checkpointer.close())
    await asyncio.sleep(0)  # close() now waits for its thread
    checkpointer.after_write()  # a batch that committed meanwhile
    await closing
    await asyncio.sleep(0.1)  # past the copy's delay: a copy scheduled now would fail on the closed thread pool
    assert checkpointer._pending is None
