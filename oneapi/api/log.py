"""/api/log/*: every log for admins, one's own logs for users, quota sums, and deleting old history."""

from __future__ import annotations

from dataclasses import astuple

from aiohttp import web
from peewee import Expression

from oneapi.api.common import INT32, ITEMS_PER_PAGE, page_offset, query_int, row_id
from oneapi.auth import current_user, require
from oneapi.constants import Role
from oneapi.db.models import Log
from oneapi.errors import ApiError, api_ok
from oneapi.logs import (
    LogFilter,
    consumed_quota,
    delete_logs_before,
    find_logs,
    keyword_clause,
    log_dict,
    log_where,
)
from oneapi.state import STATE

SEARCH_LIMIT = 100


def _filter(request: web.Request, user_id: int | None = None) -> LogFilter:
    """The query's filters; a user's own view is pinned to their id and cannot pick a username."""
    query = request.query
    own = user_id is not None
    return LogFilter(
        log_type=query_int(request, "type", limit=INT32), user_id=user_id,
        username="" if own else query.get("username", ""),
        token_name=query.get("token_name", ""), model_name=query.get("model_name", ""),
        start=query_int(request, "start_timestamp"), end=query_int(request, "end_timestamp"),
        channel=query_int(request, "channel", limit=INT32),
    )


def _keyword_clause(request: web.Request) -> Expression:
    """``type = kw OR content LIKE 'kw%'`` (the type clause only for a number)."""
    keyword = request.query.get("keyword", "")
    return keyword_clause(request.app[STATE], keyword, row_id(keyword))


async def _page(request: web.Request, log_filter: LogFilter) -> list[Log]:
    """Page ``?p=`` of the filtered logs, read after the previous page's last id when that page was served."""
    state = request.app[STATE]
    offset = page_offset(request)
    page, query = offset // ITEMS_PER_PAGE, astuple(log_filter)
    where = await log_where(state, log_filter)
    after = state.log_pages.after(query, page)
    if after is None:
        logs = await find_logs(state, where, offset, ITEMS_PER_PAGE)
    else:
        below = Log.id < after
        logs = await find_logs(state, below if where is True else where & below, 0, ITEMS_PER_PAGE)
    if logs:
        state.log_pages.remember(query, page, logs[-1].id)
    return logs


@require(Role.ADMIN)
async def all_logs(request: web.Request) -> web.Response:
    return api_ok([log_dict(entry) for entry in await _page(request, _filter(request))])


@require(Role.COMMON)
async def own_logs(request: web.Request) -> web.Response:
    logs = await _page(request, _filter(request, current_user(request).id))
    return api_ok([log_dict(entry, hide_id=True) for entry in logs])


@require(Role.ADMIN)
async def search_all_logs(request: web.Request) -> web.Response:
    logs = await find_logs(request.app[STATE], _keyword_clause(request), 0, SEARCH_LIMIT)
    return api_ok([log_dict(entry) for entry in logs])


@require(Role.COMMON)
async def search_own_logs(request: web.Request) -> web.Response:
    """One's own logs matching the keyword (One API compared it with the type only, SPEC §10.2)."""
    where = (Log.user_id == current_user(request).id) & _keyword_clause(request)
    logs = await find_logs(request.app[STATE], where, 0, SEARCH_LIMIT)
    return api_ok([log_dict(entry, hide_id=True) for entry in logs])


@require(Role.ADMIN)
async def all_logs_stat(request: web.Request) -> web.Response:
    return api_ok({"quota": await consumed_quota(request.app[STATE], _filter(request))})


@require(Role.COMMON)
async def own_logs_stat(request: web.Request) -> web.Response:
    log_filter = _filter(request, current_user(request).id)
    return api_ok({"quota": await consumed_quota(request.app[STATE], log_filter)})


@require(Role.ADMIN)
async def delete_history(request: web.Request) -> web.Response:
    target = query_int(request, "target_timestamp")
    if not target:
        raise ApiError("target timestamp is required")
    return api_ok(await delete_logs_before(request.app[STATE], target))
