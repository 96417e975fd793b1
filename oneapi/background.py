"""What every background loop does with an error it survives, and how its owner stops it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

RECANCEL_SECONDS = 0.5  # a task still running this long after a cancel has lost it: it is cancelled again
STOP_SECONDS = 10.0


def unless_cancelled() -> None:
    """Call in a background loop's ``except Exception`` and after each round's database work. A cancel (shutdown)
    can be lost below the loop: a MySQL driver turns it into another error while rolling back, or the database
    bridge absorbs it during a statement. The loop then logged that, or nothing, and went round again, and
    shutdown waited for it for ever. When the task is being cancelled, this ends the loop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None], timeout: float = STOP_SECONDS) -> None:
    """Cancel the tasks and wait until they have ended, whatever they raise.

    A loop that lost its cancel (see ``unless_cancelled``) and went on to wait for its next message would
    hold the shutdown for ever: a task still running after a moment is cancelled again, which reaches it at
    that wait. One still running after ``timeout`` is logged and left, so that the rest of the shutdown
    (writing the usage) still happens."""
    pending = {task for task in tasks if task is not None and not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            logger.error("background tasks did not stop: %s", ", ".join(sorted(t.get_name() for t in pending)))
            return
        for task in pending:
            task.cancel()
        done, pending = await asyncio.wait(pending, timeout=min(RECANCEL_SECONDS, remaining))
        for task in done:
            if not task.cancelled() and (error := task.exception()) is not None:
                logger.warning("background task %s ended with %r", task.get_name(), error)
