"""Log rows outside the relay (top-ups, admin edits, system grants, channel tests) and log queries.

Rows are queued to the ledger like consume logs, so the logs table has one writer. Queries serve the
admin's and the users' log pages with One API's filters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from peewee import SQL, Expression, MySQLDatabase, fn

from oneapi.constants import LogType
from oneapi.db.models import Log
from oneapi.options import Options
from oneapi.state import AppState


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

    def where(self, with_type: bool = True) -> Expression | bool:
        clauses: list[Expression] = []
        if with_type and self.log_type:
            clauses.append(Log.type == self.log_type)
        if self.user_id is not None:
            clauses.append(Log.user_id == self.user_id)
        if self.username:
            clauses.append(Log.username == self.username)
        if self.token_name:
            clauses.append(Log.token_name == self.token_name)
        if self.model_name:
            clauses.append(Log.model_name == self.model_name)
        if self.start:
            clauses.append(Log.created_at >= self.start)
        if self.end:
            clauses.append(Log.created_at <= self.end)
        if self.channel:
            clauses.append(Log.channel_id == self.channel)
        result: Expression | bool = True
        for clause in clauses:
            result = clause if result is True else result & clause
        return result


async def find_logs(state: AppState, where: Expression | bool, offset: int, limit: int) -> list[Log]:
    query = Log.select().where(where).order_by(Log.id.desc()).offset(offset).limit(limit)
    return await state.dbs.logs.list(query)


async def consumed_quota(state: AppState, log_filter: LogFilter) -> int:
    """Σ quota of the consume logs matching the filter (its type is ignored, as in One API)."""
    query = Log.select(fn.COALESCE(fn.SUM(Log.quota), 0)).where(
        (Log.type == int(LogType.CONSUME)) & log_filter.where(with_type=False))
    return int(await state.dbs.logs.scalar(query) or 0)


async def delete_logs_before(state: AppState, timestamp: int) -> int:
    await state.ledger.drain()
    async with state.dbs.write_transaction(state.dbs.logs):
        return await state.dbs.logs.aexecute(Log.delete().where(Log.created_at < timestamp))


async def daily_usage(state: AppState, user_id: int, days: int = 7) -> list[dict[str, Any]]:
    """Consume logs of the last ``days`` UTC days per day and model, with the dashboard's PascalCase keys."""
    now = int(time.time())
    since = now - now % 86400 - (days - 1) * 86400
    # The UTC day number: integer division on SQLite and PostgreSQL, MySQL's `/` gives decimals. The divisor
    # is a literal, not a parameter, so that PostgreSQL sees the same expression in SELECT and GROUP BY.
    day = Expression(Log.created_at, "DIV" if isinstance(state.dbs.logs, MySQLDatabase) else "/", SQL("86400"))
    query = (Log.select(day.alias("day"), Log.model_name, fn.COUNT(Log.id).alias("requests"),
                        fn.SUM(Log.quota).alias("quota"), fn.SUM(Log.prompt_tokens).alias("prompt"),
                        fn.SUM(Log.completion_tokens).alias("completion"))
             .where((Log.user_id == user_id) & (Log.type == int(LogType.CONSUME)) & (Log.created_at >= since))
             .group_by(day, Log.model_name).order_by(day, Log.model_name).dicts())
    rows = await state.dbs.logs.list(query)
    return [{"Day": time.strftime("%Y-%m-%d", time.gmtime(int(r["day"]) * 86400)), "ModelName": r["model_name"],
             "RequestCount": int(r["requests"]), "Quota": int(r["quota"] or 0),
             "PromptTokens": int(r["prompt"] or 0), "CompletionTokens": int(r["completion"] or 0)} for r in rows]


def log_dict(log: Log, hide_id: bool = False) -> dict[str, Any]:
    """One API's log JSON: ``channel`` carries channel_id; self logs show id 0."""
    return {"id": 0 if hide_id else log.id, "user_id": log.user_id, "created_at": log.created_at, "type": log.type,
            "content": log.content, "username": log.username, "token_name": log.token_name,
            "model_name": log.model_name, "quota": log.quota, "prompt_tokens": log.prompt_tokens,
            "completion_tokens": log.completion_tokens, "channel": log.channel_id, "request_id": log.request_id,
            "elapsed_time": log.elapsed_time, "is_stream": bool(log.is_stream),
            "system_prompt_reset": bool(log.system_prompt_reset)}
