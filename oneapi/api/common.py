"""Small pieces every /api handler shares: reading the body, paging, ids, and rows as One API's JSON.

Numbers and strings are checked against what the columns can hold (PostgreSQL and MySQL refuse an
out-of-range integer, an over-long varchar or, on MySQL, a TEXT value past 64 KB), so a bad value is the
client's error, never a 500, on every backend alike.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from functools import reduce
from typing import Any, overload

import orjson
from aiohttp import web
from peewee import BigIntegerField, CharField, Field, IntegerField, Model, ModelSelect, TextField

from oneapi.auth import Handler, require
from oneapi.constants import Role
from oneapi.db.models import TEXT_BYTES, Channel, LongTextField, Redemption, User, fits_text
from oneapi.errors import ApiError, api_ok
from oneapi.security.request_headers import NUL_REFUSAL
from oneapi.state import STATE

ITEMS_PER_PAGE = 10  # One API's fixed page size; `page_size`/`size` parameters are ignored, as there
INVALID_PARAMS = "无效的参数"
INT32 = 2**31
INT64 = 2**63


async def read_json(request: web.Request, status: int = 200) -> dict[str, Any]:
    """The body as a JSON object, or One API's ``无效的参数`` refusal."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(INVALID_PARAMS, status=status)
    if b"\\u0000" in raw and _holds_nul(body):
        raise ApiError(NUL_REFUSAL, status=400)
    return body


def _holds_nul(value: Any) -> bool:
    """Whether a string anywhere in the decoded JSON holds U+0000 (PostgreSQL's text cannot)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def query_int(request: web.Request, name: str, default: int = 0, limit: int = INT64) -> int:
    """An integer query parameter; anything unparsable counts as ``default`` (Go's Atoi then 0)."""
    try:
        value = int(request.query.get(name, ""))
    except ValueError:
        return default
    if not -limit <= value < limit:
        raise ApiError(f"{INVALID_PARAMS}：{name} 超出范围")
    return value


def page_offset(request: web.Request) -> int:
    """Row offset for ``?p=`` (0-based page, negative means 0)."""
    return max(query_int(request, "p", limit=INT32), 0) * ITEMS_PER_PAGE


async def page_of(request: web.Request, query: ModelSelect[Any]) -> list[Any]:
    """The rows of ``query`` on the page ``?p=`` asks for."""
    return await request.app[STATE].dbs.main.list(query.offset(page_offset(request)).limit(ITEMS_PER_PAGE))


async def search_rows(request: web.Request, model: type[User | Channel | Redemption], *fields: Field) -> list[Any]:
    """Rows where one of ``fields`` starts with ``?keyword=``, or whose id it is, newest first (unpaged)."""
    keyword = request.query.get("keyword", "")
    where = reduce(operator.or_, (field.startswith(keyword) for field in fields))
    if (keyword_id := row_id(keyword)) is not None:
        where |= model.id == keyword_id
    return await request.app[STATE].dbs.main.list(model.select().where(where).order_by(model.id.desc()))


def admin_reads(model: type[Channel | Redemption], to_dict: Callable[[Any], dict[str, Any]],
                get: Callable[[int], Awaitable[Any]]) -> tuple[Handler, Handler, Handler]:
    """The three read endpoints of an admin table with a ``name``: a page of rows, newest first, the
    ``?keyword=`` search (name prefix or id) and one row by the path's id (``get`` refuses a missing one)."""

    @require(Role.ADMIN)
    async def list_page(request: web.Request) -> web.Response:
        return api_ok([to_dict(row) for row in await page_of(request, model.select().order_by(model.id.desc()))])

    @require(Role.ADMIN)
    async def search(request: web.Request) -> web.Response:
        return api_ok([to_dict(row) for row in await search_rows(request, model, model.name)])

    @require(Role.ADMIN)
    async def by_id(request: web.Request) -> web.Response:
        return api_ok(to_dict(await get(path_id(request))))

    return list_page, search, by_id


def row_id(text: str) -> int | None:
    """A keyword or path segment as a row id, when it is one."""
    return int(text) if text.isdigit() and int(text) < INT32 else None


def path_id(request: web.Request, name: str = "id") -> int:
    value = row_id(request.match_info.get(name, ""))
    if value is None:
        raise ApiError(INVALID_PARAMS)
    return value


@overload
def body_int(body: dict[str, Any], name: str) -> int | None: ...


@overload
def body_int(body: dict[str, Any], name: str, default: int) -> int: ...


def body_int(body: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """A 64-bit integer field of a JSON body (``None``/absent gives ``default``); 3.0 counts as 3."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"{INVALID_PARAMS}：{name} 必须是整数")
    if not -INT64 <= value < INT64:
        raise ApiError(f"{INVALID_PARAMS}：{name} 超出范围")
    return value


def body_id(body: dict[str, Any], name: str = "id") -> int:
    """A row id from a JSON body; missing or impossible ids are One API's ``无效的参数``."""
    value = body_int(body, name)
    if value is None or not 0 < value < INT32:
        raise ApiError(INVALID_PARAMS)
    return value


def body_str(body: dict[str, Any], name: str) -> str | None:
    """A string field of a JSON body, ``None`` when absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(f"{INVALID_PARAMS}：{name} 必须是字符串")
    return value


def check_columns(model: type[Model], fields: dict[str, Any]) -> None:
    """Refuse values the columns cannot hold: strings over a varchar's length or a TEXT's 64 KB (MySQL's),
    integers over 32 bits."""
    for name, value in fields.items():
        field = model._meta.fields.get(name)
        if isinstance(field, CharField) and isinstance(value, str):
            check_length(name, value, field.max_length)
        if (isinstance(field, TextField) and not isinstance(field, LongTextField) and isinstance(value, str)
                and not fits_text(value)):
            raise ApiError(f"{INVALID_PARAMS}：{name} 最多 {TEXT_BYTES} 字节")
        if (isinstance(field, IntegerField) and not isinstance(field, BigIntegerField) and isinstance(value, int)
                and not -INT32 <= value < INT32):
            raise ApiError(f"{INVALID_PARAMS}：{name} 超出范围")


def check_length(name: str, value: str, max_length: int) -> None:
    if len(value) > max_length:
        raise ApiError(f"{INVALID_PARAMS}：{name} 最多 {max_length} 个字符")


def row_dict(row: Model, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row as One API's JSON: every column by name, NULL read as the column default, ``hidden`` ones blank."""
    data: dict[str, Any] = {}
    for field in row._meta.sorted_fields:
        value = getattr(row, field.name)
        if value is None and field.default is not None:
            value = field.default
        data[field.name] = value
    for name in hidden:
        data[name] = ""
    return data
