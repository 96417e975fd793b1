"""Log rows outside the relay (top-ups, admin edits, system grants, channel tests) and log queries.

Rows are queued to the ledger like consume logs, so the logs table has one writer. Queries serve the
admin's and the users' log pages with One API's filters.
"""

from __future__ import annotations

import asyncio
import logging
import string
import time
from dataclasses import dataclass, replace
from typing import Any

from peewee import Expression, Field, ModelSelect, SqliteDatabase, fn

from oneapi.background import unless_cancelled
from oneapi.constants import LogType
from oneapi.db.models import Log
from oneapi.log_rollup import add_to_hourly, drop_empty_hours, holding_mark, hourly_sums, summed_quota
from oneapi.options import Options
from oneapi.state import AppState

logger = logging.getLogger(__name__)

DELETE_BATCH = 200  # rows per transaction: about 25 ms of SQLite's write lock on a table of a million logs
DELETE_PAUSE = 2.0  # after each batch, wait this many times as long as it took, so relays get the lock
RETENTION_INTERVAL = 3600.0
RETENTION_RETRY = 60.0  # after a failed pass (the database away, a deadlock), sooner than the next hour
IDLE_BOUND_MARGIN = 60  # seconds past the newest log and the clock within which an end bound is kept
_FOLD_ASCII = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)  # what NOCASE folds


def format_quota(options: Options, quota: int) -> str:
    """One API's LogQuota: dollars when DisplayInCurrencyEnabled, raw points otherwise."""
    if options.bool("DisplayInCurrencyEnabled"):
        return f"＄{quota / options.quota_per_unit:.6f} 额度"
    return f"{quota} 点额度"


def record_log(state: AppState, user_id: int, log_type: LogType, content: str, **fields: Any) -> None:
    """Queue a non-consume log row; the username is the user's current one (empty for user 0)."""
    user = state.cache.user(user_id) if user_id else None
    row: dict[str, Any] = {"user_id": user_id, "type": int(log_type), "content": content,
                           "username": user.username if user is not None else "", "created_at": int(time.time())}
    row.update(fields)
    state.ledger.log(row)


@dataclass(slots=True)
class LogFilter:
    """The filters of the log pages; empty values filter nothing (type 0 = every type)."""

    log_type: int = 0
    user_id: int | None = None
    username: str = ""
    token_name: str = ""
    model_name: str = ""
    start: int = 0
    end: int = 0
    channel: int = 0

    @property
    def selective(self) -> bool:
        """Whether an equality filter with an index of its own (user, username, token, model, channel) is set."""
        return bool(self.user_id is not None or self.username or self.token_name or self.model_name or self.channel)

    def where(self, with_type: bool = True, unindexed: frozenset[str] = frozenset()) -> Expression | bool:
        """The filters as a WHERE; the ``unindexed`` columns (type, created_at) are compared as ``column + 0``,
        which no index serves, to steer SQLite's planner (see log_where)."""

        def column(field: Field) -> Any:
            return field + 0 if field.name in unindexed else field

        clauses: list[Expression] = []
        if with_type and self.log_type:
            clauses.append(column(Log.type) == self.log_type)
        if self.user_id is not None:
            clauses.append(Log.user_id == self.user_id)
        if self.username:
            clauses.append(Log.username == self.username)
        if self.token_name:
            clauses.append(Log.token_name == self.token_name)
        if self.model_name:
            clauses.append(Log.model_name == self.model_name)
        if self.start:
            clauses.append(column(Log.created_at) >= self.start)
        if self.end:
            clauses.append(column(Log.created_at) <= self.end)
        if self.channel:
            clauses.append(Log.channel_id == self.channel)
        result: Expression | bool = True
        for clause in clauses:
            result = clause if result is True else result & clause
        return result


async def without_idle_bounds(state: AppState, log_filter: LogFilter) -> LogFilter:
    """The filter without time bounds that every row meets, such as the log page's default end of now + 1 hour:
    a bound on created_at makes the planner read the whole range by idx_created_at_type and sort it."""
    db = state.dbs.logs
    start, end = log_filter.start, log_filter.end
    if end:
        latest = await db.scalar(Log.select(fn.MAX(Log.created_at)))
        # rows still on their way were stamped before now; other nodes' clocks may run a little ahead
        if latest is None or end >= max(int(latest), int(time.time())) + IDLE_BOUND_MARGIN:
            end = 0
    if start:
        earliest = await db.scalar(Log.select(fn.MIN(Log.created_at)))
        if earliest is None or start <= int(earliest):
            start = 0
    return replace(log_filter, start=start, end=end)


async def log_where(state: AppState, log_filter: LogFilter, with_type: bool = True) -> Expression | bool:
    """The filter's WHERE, shaped for the planner. SQLite keeps no statistics, so on a large table it may search
    idx_logs_type_id for ``type = 2`` (nine rows in ten) rather than the index of a rare username, or sort a
    month by created_at: with an equality filter, type and time are taken off the indexes; with only a time
    range, the range is read by its index when it holds fewer rows than the newer ones a scan down the ids
    would pass, else the scan is used (ids grow with time). PostgreSQL and MySQL plan from their statistics."""
    log_filter = await without_idle_bounds(state, log_filter)
    if not isinstance(state.dbs.logs, SqliteDatabase):
        return log_filter.where(with_type)
    if log_filter.selective:
        return log_filter.where(with_type, frozenset({"type", "created_at"}))
    if log_filter.start or log_filter.end:
        narrow = await _range_is_narrow(state, log_filter)
        return log_filter.where(with_type, frozenset({"type"} if narrow else {"created_at"}))
    return log_filter.where(with_type)


async def _range_is_narrow(state: AppState, log_filter: LogFilter) -> bool:
    """Whether fewer log ids lie in the time range than above it (three index lookups)."""
    db = state.dbs.logs
    newest = int(await db.scalar(Log.select(fn.MAX(Log.id))) or 0)
    first = last = None
    if log_filter.start:
        first = await db.scalar(Log.select(Log.id).where(Log.created_at >= log_filter.start)
                                .order_by(Log.created_at).limit(1))
    if log_filter.end:
        last = await db.scalar(Log.select(Log.id).where(Log.created_at <= log_filter.end)
                               .order_by(Log.created_at.desc()).limit(1))
    if (log_filter.start and first is None) or (log_filter.end and last is None):
        return True  # nothing in range: the index finds that at once
    top = int(last) if last is not None else newest
    return top - int(first or 0) < newest - top


def page_query(where: Expression | bool, offset: int, limit: int) -> ModelSelect[Log]:
    """The log pages' one query shape: newest first."""
    return Log.select().where(where).order_by(Log.id.desc()).offset(offset).limit(limit)


async def find_logs(state: AppState, where: Expression | bool, offset: int, limit: int) -> list[Log]:
    return await state.dbs.logs.list(page_query(where, offset, limit))


def keyword_clause(state: AppState, keyword: str, log_type: int | None) -> Expression:
    """One API's search: ``content LIKE 'kw%'``, or the type when the keyword is a number. On SQLite the prefix
    is asked as a range under NOCASE, which folds ASCII letters as its LIKE does and takes the keyword's ``%``
    and ``_`` literally as the escaped LIKE does: a comparison, not a function call per row. Content has no
    index (as in One API), so a search that matches little reads the whole table: on a million rows 131-142 ->
    117-124 ms (reading it memory-mapped for the query alone saved no more: mapping the pages anew costs
    what it saves on reads, and a mapping kept would keep every page a search touched in the process's RSS)."""
    if isinstance(state.dbs.logs, SqliteDatabase):
        content = Log.content.collate("NOCASE")
        clause = content >= keyword
        if (above := _above_prefix(keyword)) is not None:
            clause &= content < above
    else:
        clause = Log.content.startswith(keyword)
    return clause | (Log.type == log_type) if log_type is not None else clause


def _above_prefix(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` under NOCASE, or None if none is:
    its ASCII letters folded, the last code point below U+10FFFF raised by one, past the surrogates (UTF-8
    has none) and past A-Z (NOCASE would fold them back below)."""
    head = prefix.translate(_FOLD_ASCII).rstrip("\U0010ffff")
    if not head:
        return None
    code = ord(head[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    elif ord("A") <= code <= ord("Z"):
        code = ord("Z") + 1
    return head[:-1] + chr(code)


async def consumed_quota(state: AppState, log_filter: LogFilter) -> int:
    """Σ quota of the consume logs matching the filter (its type is ignored, as in One API); from the hourly
    sums when log_hourly has the filter's columns."""
    log_filter = replace(log_filter, log_type=int(LogType.CONSUME))
    if not (log_filter.username or log_filter.token_name or log_filter.channel):
        log_filter = await without_idle_bounds(state, log_filter)
        return await summed_quota(state, log_filter.user_id, log_filter.model_name, log_filter.start, log_filter.end)
    query = Log.select(fn.COALESCE(fn.SUM(Log.quota), 0)).where(await log_where(state, log_filter))
    return int(await state.dbs.logs.scalar(query) or 0)


async def delete_logs_before(state: AppState, timestamp: int) -> int:
    """Delete the logs older than ``timestamp`` in batches of DELETE_BATCH rows, one short transaction each and
    a pause of DELETE_PAUSE times the lock's holding after it, so that the writers of new logs and reservations
    (SQLite has one writer lock) wait for one batch at most and have the lock most of the time. The hourly
    sums lose the deleted rows in the same transaction."""
    await state.ledger.drain()
    db, deleted = state.dbs.logs, 0
    while True:
        ids = [row[0] for row in await db.list(
            Log.select(Log.id).where(Log.created_at < timestamp).limit(DELETE_BATCH).tuples())]
        if not ids:
            if deleted:
                await drop_empty_hours(state)
            return deleted
        async with holding_mark(state) as mark:
            started = time.monotonic()  # the locks are held from here: waiting for them is not counted
            await add_to_hourly(db, await hourly_sums(db, Log.id.in_(ids) & (Log.id <= mark)), sign=-1)
            deleted += await db.aexecute(Log.delete().where(Log.id.in_(ids)))
        held = time.monotonic() - started
        await state.dbs.release()
        await asyncio.sleep(held * DELETE_PAUSE)


async def retention_loop(state: AppState) -> None:
    """ONEAPI_LOG_RETENTION_DAYS: every hour, delete the logs older than that many days."""
    days = state.settings.log_retention_days
    while days > 0:
        pause = RETENTION_INTERVAL
        try:
            deleted = await delete_logs_before(state, int(time.time()) - days * 86400)
            if deleted:
                logger.info("deleted %d logs older than %d days", deleted, days)
        except Exception:
            unless_cancelled()
            logger.exception("deleting old logs failed; trying again in a minute")
            pause = RETENTION_RETRY
        finally:
            await state.dbs.release()
            unless_cancelled()  # a cancel the database bridge swallowed
        await asyncio.sleep(pause)


def log_dict(log: Log, hide_id: bool = False) -> dict[str, Any]:
    """One API's log JSON: ``channel`` carries channel_id; self logs show id 0."""
    return {"id": 0 if hide_id else log.id, "user_id": log.user_id, "created_at": log.created_at, "type": log.type,
            "content": log.content, "username": log.username, "token_name": log.token_name,
            "model_name": log.model_name, "quota": log.quota, "prompt_tokens": log.prompt_tokens,
            "completion_tokens": log.completion_tokens, "channel": log.channel_id, "request_id": log.request_id,
            "elapsed_time": log.elapsed_time, "is_stream": bool(log.is_stream),
            "system_prompt_reset": bool(log.system_prompt_reset)}
