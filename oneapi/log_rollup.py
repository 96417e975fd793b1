"""Consume logs summed per user, UTC hour and model (log_hourly), for the dashboard and the quota stats.

Rows are summed up to a mark (the last summed log id), in id order, and only once they are a few seconds old:
ids are handed out before commit, so a younger row with a smaller id may still be on its way. Readers add
the rows past the mark straight from the logs table, so every figure equals a direct sum over the logs at
any moment. Moving the mark is a conditional UPDATE in the same transaction as the sums, so two workers or
nodes never add the same rows twice.

Rows of user ALL_USERS (-1) hold every user's sums per hour and model, so that the stats over all users read
at most hours x models rows. A database summed before they existed gets them from its per-user rows once
(the TOTALS mark records that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from peewee import EXCLUDED, SQL, Expression, Field, MySQLDatabase, NodeList, fn

from oneapi.background import unless_cancelled
from oneapi.constants import LogType
from oneapi.db.connect import AsyncDatabase
from oneapi.db.models import Log, LogHourly, LogRollupMark
from oneapi.state import AppState

logger = logging.getLogger(__name__)

HOUR = 3600
DAY = 86400
MARK = "log_hourly"
TOTALS = "log_hourly_totals"
ALIGNED = "log_hourly_aligned"
ALL_USERS = -1
SETTLE_SECONDS = 10  # a log row this old has been committed, wherever it was written
CHUNK = 2000  # log rows summed per step: a short hold of SQLite's write lock, which reservations wait for
INTERVAL = 30.0  # seconds between steps of the background loop
READ_TRIES = 3
T = TypeVar("T")


def time_bucket(db: AsyncDatabase, column: Field | Expression, seconds: int) -> NodeList:
    """``column`` divided by ``seconds``, an integer. MySQL needs DIV: its ``/`` gives a decimal rounded to four
    places, which puts a log of the last seconds of a day into the next day. The operator is SQL text because
    peewee renders an Expression's "DIV" as "/". The divisor is a literal, not a parameter, so that PostgreSQL
    sees the same expression in SELECT and GROUP BY."""
    divide = "DIV" if isinstance(db, MySQLDatabase) else "/"
    return NodeList((column, SQL(divide), SQL(str(seconds))), parens=True)


async def rolled_up_to(db: AsyncDatabase) -> int:
    """The id of the last log row in log_hourly (0 before the first step)."""
    mark = await db.scalar(LogRollupMark.select(LogRollupMark.last_log_id).where(LogRollupMark.name == MARK))
    return int(mark or 0)


async def at_one_mark(state: AppState, read: Callable[[int], Awaitable[T]]) -> T:
    """``read(mark)``, read again while the mark moves under it: a rollup step that commits between a read of
    log_hourly and the read of the logs past the mark would have its rows counted twice. A second read almost
    always settles it; while steps follow each other without a pause (a backlog being summed), the last try
    holds the mark's lock, which the steps wait for."""
    db = state.dbs.logs
    mark = await rolled_up_to(db)
    for _ in range(READ_TRIES):
        result = await read(mark)
        moved = await rolled_up_to(db)
        if moved == mark:
            return result
        mark = moved
    async with holding_mark(state) as mark:
        return await read(mark)


async def roll_up(state: AppState) -> int:
    """Sum the next settled log rows past the mark into log_hourly; returns how many log ids it covered.

    Readers call it too, so that the figures they read come mostly from log_hourly."""
    db = state.dbs.logs
    marks = dict(await db.list(LogRollupMark.select(LogRollupMark.name, LogRollupMark.last_log_id).tuples()))
    if ALIGNED not in marks or TOTALS not in marks:
        await realign_hours(state)
        await add_totals(state)
        marks = dict(await db.list(LogRollupMark.select(LogRollupMark.name, LogRollupMark.last_log_id).tuples()))
    mark = int(marks.get(MARK) or 0)
    rows = await db.list(Log.select(Log.id, Log.created_at).where(Log.id > mark).order_by(Log.id).limit(CHUNK)
                         .tuples())
    settled = time.time() - SETTLE_SECONDS
    upto = mark
    for log_id, created_at in rows:
        if created_at >= settled:
            break
        upto = log_id
    if upto == mark:
        return 0
    async with holding_mark(state) as locked:
        if locked != mark:
            return 0  # another worker summed these rows first; nothing was written
        await db.aexecute(LogRollupMark.update(last_log_id=upto).where(LogRollupMark.name == MARK))
        # summed under the mark's row lock, so a concurrent delete_logs_before cannot remove rows meanwhile
        await add_to_hourly(db, await hourly_sums(db, (Log.id > mark) & (Log.id <= upto)))
    return upto - mark


async def realign_hours(state: AppState) -> None:
    """Once per database: on MySQL, builds of this gateway before 2026-12-07 summed the logs per second instead
    of per hour (``/`` is a decimal division there). Where such rows exist, log_hourly is emptied and the mark
    set back, so the following steps sum every log again; meanwhile the readers add the unsummed logs."""
    db = state.dbs.logs
    async with holding_mark(state):
        if await db.scalar(LogRollupMark.select(LogRollupMark.name).where(LogRollupMark.name == ALIGNED)):
            return
        hour_start = Expression(time_bucket(db, LogHourly.hour, HOUR), "*", SQL(str(HOUR)))
        if await db.scalar(LogHourly.select(LogHourly.hour).where(LogHourly.hour != hour_start).limit(1)):
            logger.warning("log_hourly holds sums per second, not per hour: summing the logs again")
            await db.aexecute(LogHourly.delete())
            await db.aexecute(LogRollupMark.update(last_log_id=0).where(LogRollupMark.name == MARK))
        await db.aexecute(LogRollupMark.insert(name=ALIGNED, last_log_id=0))


async def add_totals(state: AppState) -> None:
    """Once per database: the ALL_USERS rows from the per-user rows summed before they existed."""
    db = state.dbs.logs
    async with holding_mark(state):  # one node does it, the others then find the TOTALS mark
        if await db.scalar(LogRollupMark.select(LogRollupMark.name).where(LogRollupMark.name == TOTALS)):
            return
        figures = (LogHourly.requests, LogHourly.quota, LogHourly.prompt_tokens, LogHourly.completion_tokens)
        summed = (LogHourly.select(SQL(str(ALL_USERS)), LogHourly.hour, LogHourly.model_name,
                                   *(fn.SUM(f) for f in figures))
                  .where(LogHourly.user_id != ALL_USERS).group_by(LogHourly.hour, LogHourly.model_name))
        await db.aexecute(LogHourly.insert_from(summed, [LogHourly.user_id, LogHourly.hour, LogHourly.model_name,
                                                         *figures]))
        await db.aexecute(LogRollupMark.insert(name=TOTALS, last_log_id=0))


async def hourly_sums(db: AsyncDatabase, where: Expression) -> list[dict[str, Any]]:
    """log_hourly rows for the consume logs matching ``where``."""
    hour = Expression(time_bucket(db, Log.created_at, HOUR), "*", SQL(str(HOUR)))
    rows = await db.list(
        Log.select(Log.user_id, hour.alias("hour"), Log.model_name, fn.COUNT(Log.id).alias("requests"),
                   fn.SUM(Log.quota).alias("quota"), fn.SUM(Log.prompt_tokens).alias("prompt_tokens"),
                   fn.SUM(Log.completion_tokens).alias("completion_tokens"))
        .where(where & (Log.type == int(LogType.CONSUME)))
        .group_by(Log.user_id, hour, Log.model_name).dicts())
    # SUMs come back as Decimal on MySQL and PostgreSQL
    sums = [{key: value if key == "model_name" else int(value or 0) for key, value in row.items()} for row in rows]
    totals: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in sums:
        total = totals.setdefault((row["hour"], row["model_name"]), {
            "user_id": ALL_USERS, "hour": row["hour"], "model_name": row["model_name"], "requests": 0, "quota": 0,
            "prompt_tokens": 0, "completion_tokens": 0})
        for key in ("requests", "quota", "prompt_tokens", "completion_tokens"):
            total[key] += row[key]
    return sums + list(totals.values())


async def add_to_hourly(db: AsyncDatabase, rows: list[dict[str, Any]], sign: int = 1) -> None:
    """Add (sign 1) or take away (sign -1) hourly sums, inside the caller's transaction."""
    figures = (LogHourly.requests, LogHourly.quota, LogHourly.prompt_tokens, LogHourly.completion_tokens)
    if sign < 0:
        rows = [{**row, **{f.name: -row[f.name] for f in figures}} for row in rows]
    if isinstance(db, MySQLDatabase):  # ON DUPLICATE KEY UPDATE: no conflict target, VALUES() for the new row
        target, update = None, {f: f + fn.VALUES(f) for f in figures}
    else:
        target = [LogHourly.user_id, LogHourly.hour, LogHourly.model_name]
        update = {f: f + getattr(EXCLUDED, f.name) for f in figures}
    for start in range(0, len(rows), 500):
        await db.aexecute(LogHourly.insert_many(rows[start:start + 500]).on_conflict(conflict_target=target,
                                                                                     update=update))


async def drop_empty_hours(state: AppState) -> None:
    """Remove the log_hourly rows whose logs were all deleted."""
    async with holding_mark(state):
        await state.dbs.logs.aexecute(LogHourly.delete().where(LogHourly.requests <= 0))


@contextlib.asynccontextmanager
async def holding_mark(state: AppState) -> AsyncIterator[int]:
    """A write transaction on the logs database that first takes the mark's row lock, yielding the mark: every
    writer of log_hourly (rollup steps, log deletion, the totals) takes it first, so they wait for one another
    instead of locking log_hourly rows in different orders. The row is made beforehand, in a statement of its
    own: inside the transaction, MySQL's INSERT IGNORE of an existing row takes a shared lock, which two
    transactions then both try to upgrade (deadlock 1213)."""
    db = state.dbs.logs
    if not await db.scalar(LogRollupMark.select(LogRollupMark.name).where(LogRollupMark.name == MARK)):
        async with state.dbs.write_lock(db):
            await db.aexecute(LogRollupMark.insert(name=MARK, last_log_id=0).on_conflict_ignore())
    async with state.dbs.write_transaction(db):
        await db.aexecute(LogRollupMark.update(last_log_id=LogRollupMark.last_log_id).where(LogRollupMark.name == MARK))
        yield await rolled_up_to(db)


async def roll_up_loop(state: AppState) -> None:
    """Keep log_hourly close behind the logs: a step every INTERVAL seconds, more while there is a backlog."""
    while True:
        try:
            while await roll_up(state) >= CHUNK:
                await asyncio.sleep(0)
        except Exception:
            unless_cancelled()
            logger.exception("summing logs into log_hourly failed; the figures still add the unsummed logs")
        finally:
            await state.dbs.release()
            unless_cancelled()  # a cancel the database bridge swallowed
        await asyncio.sleep(INTERVAL)


async def daily_usage(state: AppState, user_id: int, days: int = 7) -> list[dict[str, Any]]:
    """Consume logs of the last ``days`` UTC days per day and model, with the dashboard's PascalCase keys."""
    db = state.dbs.logs
    now = int(time.time())
    since = now - now % DAY - (days - 1) * DAY
    await roll_up(state)
    return await at_one_mark(state, lambda mark: _daily_usage(db, user_id, since, mark))


async def _daily_usage(db: AsyncDatabase, user_id: int, since: int, mark: int) -> list[dict[str, Any]]:
    day = time_bucket(db, LogHourly.hour, DAY)
    summed = await db.list(
        LogHourly.select(day.alias("day"), LogHourly.model_name, fn.SUM(LogHourly.requests).alias("requests"),
                         fn.SUM(LogHourly.quota).alias("quota"), fn.SUM(LogHourly.prompt_tokens).alias("prompt"),
                         fn.SUM(LogHourly.completion_tokens).alias("completion"))
        .where((LogHourly.user_id == user_id) & (LogHourly.hour >= since) & (LogHourly.requests > 0))
        .group_by(day, LogHourly.model_name).dicts())
    log_day = time_bucket(db, Log.created_at, DAY)
    recent = await db.list(
        Log.select(log_day.alias("day"), Log.model_name, fn.COUNT(Log.id).alias("requests"),
                   fn.SUM(Log.quota).alias("quota"), fn.SUM(Log.prompt_tokens).alias("prompt"),
                   fn.SUM(Log.completion_tokens).alias("completion"))
        .where((Log.id > mark) & (Log.user_id == user_id) & (Log.type == int(LogType.CONSUME))
               & (Log.created_at >= since))
        .group_by(log_day, Log.model_name).dicts())
    totals: dict[tuple[int, str], list[int]] = {}
    for row in (*summed, *recent):
        figures = totals.setdefault((int(row["day"]), row["model_name"]), [0, 0, 0, 0])
        for i, key in enumerate(("requests", "quota", "prompt", "completion")):
            figures[i] += int(row[key] or 0)
    return [{"Day": time.strftime("%Y-%m-%d", time.gmtime(day_number * DAY)), "ModelName": model,
             "RequestCount": f[0], "Quota": f[1], "PromptTokens": f[2], "CompletionTokens": f[3]}
            for (day_number, model), f in sorted(totals.items())]


async def summed_quota(state: AppState, user_id: int | None, model_name: str, start: int, end: int) -> int:
    """Σ quota of consume logs by user / model / time (0 = unbounded, ``end`` inclusive): whole hours from
    log_hourly, the partial hours at both ends and the rows past the mark from the logs."""
    db = state.dbs.logs
    await roll_up(state)
    return await at_one_mark(state, lambda mark: _summed_quota(db, user_id, model_name, start, end, mark))


async def _summed_quota(db: AsyncDatabase, user_id: int | None, model_name: str, start: int, end: int,
                        mark: int) -> int:
    first_hour = math.ceil(start / HOUR) * HOUR if start else 0
    end_hour = (end + 1) // HOUR * HOUR if end else 0  # hours starting before this one end within ``end``
    rolled = LogHourly.hour >= first_hour
    if end:
        rolled &= LogHourly.hour < end_hour
    rolled &= LogHourly.user_id == (ALL_USERS if user_id is None else user_id)
    if model_name:
        rolled &= LogHourly.model_name == model_name
    total = int(await db.scalar(LogHourly.select(fn.COALESCE(fn.SUM(LogHourly.quota), 0)).where(rolled)) or 0)

    def logs_where(extra: Expression, past_mark: bool) -> Expression:
        """Every part is narrow by its own bound: the ids past the mark, or part of an hour. Type, user and (past
        the mark) time are compared as ``column + 0``, which no index serves, so that SQLite's planner (it keeps no
        statistics) does not read a user's every row or a week of created_at by their indexes instead."""
        where = extra & (Log.type + 0 == int(LogType.CONSUME))
        if user_id is not None:
            where &= Log.user_id + 0 == user_id
        if model_name:
            where &= Log.model_name == model_name
        created_at = Log.created_at + 0 if past_mark else Log.created_at
        if start:
            where &= created_at >= start
        if end:
            where &= created_at <= end
        return where

    parts = [(Log.id > mark, True)]
    if start and first_hour > start:
        parts.append(((Log.id <= mark) & (Log.created_at < first_hour), False))
    if end:
        parts.append(((Log.id <= mark) & (Log.created_at >= max(end_hour, first_hour)), False))
    for part, past_mark in parts:
        query = Log.select(fn.COALESCE(fn.SUM(Log.quota), 0)).where(logs_where(part, past_mark))
        total += int(await db.scalar(query) or 0)
    return total
