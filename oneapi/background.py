"""What every background loop does with an error it survives."""

from __future__ import annotations

import asyncio


def unless_cancelled() -> None:
    """Call in a background loop's ``except Exception`` and after each round's database work. A cancel (shutdown)
    can be lost below the loop: a MySQL driver turns it into another error while rolling back, or the database
    bridge absorbs it during a statement. The loop then logged that, or nothing, and went round again, and
    shutdown waited for it for ever. When the task is being cancelled, this ends the loop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
