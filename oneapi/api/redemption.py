"""/api/redemption/*: top-up codes, admin only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from oneapi.api.common import admin_reads, body_id, body_int, body_str, path_id, read_json, row_dict
from oneapi.auth import current_user, require
from oneapi.constants import Role
from oneapi.db.models import Redemption
from oneapi.errors import api_ok
from oneapi.redemptions import create_redemptions, delete_redemption, get_redemption, update_redemption
from oneapi.state import STATE


def redemption_dict(redemption: Redemption) -> dict[str, Any]:
    return row_dict(redemption)


list_redemptions, search_redemptions, get_redemption_by_id = admin_reads(Redemption, redemption_dict, get_redemption)


@require(Role.ADMIN)
async def add_redemptions(request: web.Request) -> web.Response:
    """``{name, quota, count}`` -> the new codes (32 hex each), written in one INSERT."""
    body = await read_json(request)
    keys = await create_redemptions(request.app[STATE], current_user(request).id, body_str(body, "name") or "",
                                    body_int(body, "quota", 0), body_int(body, "count", 1))
    return api_ok(keys)


@require(Role.ADMIN)
async def edit_redemption(request: web.Request) -> web.Response:
    body = await read_json(request)
    redemption_id = body_id(body)
    if request.query.get("status_only"):
        fields: dict[str, Any] = {"status": body_int(body, "status")}
    else:
        fields = {name: value for name, value in (("name", body_str(body, "name")),
                                                   ("quota", body_int(body, "quota"))) if value is not None}
    return api_ok(redemption_dict(await update_redemption(request.app[STATE], redemption_id, fields)))


@require(Role.ADMIN)
async def remove_redemption(request: web.Request) -> web.Response:
    await delete_redemption(request.app[STATE], path_id(request))
    return api_ok()
