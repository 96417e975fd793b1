"""Lark (Feishu) OAuth at LARK_BASE_URL; the identity is the user's ``open_id``."""

from __future__ import annotations

from oneapi.accounts.oauth import Identity, exchange_code, fetch_json, text_field
from oneapi.errors import ApiError
from oneapi.state import AppState

SERVICE = "飞书"


async def lark_identity(state: AppState, code: str) -> Identity:
    if not code:
        raise ApiError("无效的参数")
    options, base = state.options, state.settings.lark_base_url.rstrip("/")
    client = options.get("LarkClientId"), options.get("LarkClientSecret")
    token = await exchange_code(state, SERVICE, f"{base}/suite/passport/oauth/token", client, code, "lark", form=False)
    user = await fetch_json(state, SERVICE, "GET", f"{base}/suite/passport/oauth/userinfo",
                            headers={"Authorization": f"Bearer {token}"})
    open_id = text_field(user, "open_id")
    if not open_id:
        raise ApiError("返回值非法，用户字段为空，请稍后重试！")
    return Identity("lark_id", open_id, text_field(user, "name"))
