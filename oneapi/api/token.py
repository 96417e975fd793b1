"""/api/token/*: a user's own API keys. Keys are shown in full (without ``sk-``), to their owner only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import (
    INVALID_PARAMS,
    body_id,
    body_int,
    body_str,
    check_columns,
    page_of,
    path_id,
    read_json,
    row_dict,
)
from oneapi.auth import current_user, require
from oneapi.constants import Role, TokenStatus
from oneapi.db.models import Token
from oneapi.errors import ApiError, api_ok
from oneapi.state import STATE
from oneapi.tokens import create_token, delete_token, get_own_token, update_token, validate_token_fields

_ORDERS = {"remain_quota": (Token.unlimited_quota.desc(), Token.remain_quota.desc()),
           "used_quota": (Token.used_quota.desc(),)}


def token_dict(token: Token) -> dict[str, Any]:
    """One API's token JSON: an unset allow-list or subnet is "" (its edit page calls ``models.split``)."""
    data = row_dict(token)
    for name in ("models", "subnet"):
        if data[name] is None:
            data[name] = ""
    return data


def _body_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise ApiError(f"{INVALID_PARAMS}：{name} 必须是 true 或 false")


def _models(body: dict[str, Any]) -> str | None:
    """The allow-list: a comma-separated string; null or "" means every model."""
    return body_str(body, "models") or None


def _editable_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The fields a full ``PUT`` writes, limited to those present in the body."""
    fields: dict[str, Any] = {}
    for name in ("name", "subnet"):
        value = body_str(body, name)
        if value is not None:
            fields[name] = value
    for name in ("expired_time", "remain_quota"):
        number = body_int(body, name)
        if number is not None:
            fields[name] = number
    unlimited = _body_bool(body, "unlimited_quota")
    if unlimited is not None:
        fields["unlimited_quota"] = unlimited
    if "models" in body:
        fields["models"] = _models(body)
    validate_token_fields(fields.get("name"), fields.get("subnet"))
    check_columns(Token, fields)
    return fields


@require(Role.COMMON)
async def list_tokens(request: web.Request) -> web.Response:
    order = _ORDERS.get(request.query.get("order", ""), (Token.id.desc(),))
    tokens = await page_of(request, Token.select().where(Token.user_id == current_user(request).id).order_by(*order))
    return api_ok([token_dict(t) for t in tokens])


@require(Role.COMMON)
async def search_tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    keyword = request.query.get("keyword", "")
    query = (Token.select().where((Token.user_id == current_user(request).id) & Token.name.startswith(keyword))
             .order_by(Token.id.desc()))
    return api_ok([token_dict(t) for t in await state.dbs.main.list(query)])


@require(Role.COMMON)
async def get_token(request: web.Request) -> web.Response:
    return api_ok(token_dict(await get_own_token(current_user(request).id, path_id(request))))


@require(Role.COMMON)
async def add_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = body_str(body, "name") or ""
    subnet = body_str(body, "subnet") or ""
    validate_token_fields(name, subnet)
    check_columns(Token, {"subnet": subnet})
    token = await create_token(
        request.app[STATE], current_user(request).id, name,
        remain_quota=body_int(body, "remain_quota", 0),
        unlimited_quota=bool(_body_bool(body, "unlimited_quota")),
        expired_time=body_int(body, "expired_time", -1),
        models=_models(body), subnet=subnet,
    )
    return api_ok(token_dict(token))


@require(Role.COMMON)
async def edit_token(request: web.Request) -> web.Response:
    body = await read_json(request)
    token_id = body_id(body)
    token = await get_own_token(current_user(request).id, token_id)
    if request.query.get("status_only"):
        status = body_int(body, "status")
        if status not in (TokenStatus.ENABLED, TokenStatus.DISABLED):
            raise ApiError(f"{INVALID_PARAMS}：status 只能是 1 或 2")
        fields: dict[str, Any] = {"status": status}
    else:
        fields = _editable_fields(body)
    return api_ok(token_dict(await update_token(request.app[STATE], token, fields)))


@require(Role.COMMON)
async def remove_token(request: web.Request) -> web.Response:
    await delete_token(request.app[STATE], current_user(request).id, path_id(request))
    return api_ok()
