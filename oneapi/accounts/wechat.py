"""WeChat sign-in through a WeChat Server (github.com/songquanpeng/wechat-server): it turns the code the
user got from the official account into their WeChat id."""

from __future__ import annotations

from urllib.parse import quote

from oneapi.accounts.oauth import Identity, fetch_json, text_field
from oneapi.errors import ApiError
from oneapi.state import AppState


async def wechat_identity(state: AppState, code: str) -> Identity:
    if not code:
        raise ApiError("无效的参数")
    options = state.options
    address = options.get("WeChatServerAddress").rstrip("/")
    answer = await fetch_json(state, "微信", "GET", f"{address}/api/wechat/user?code={quote(code)}",
                              headers={"Authorization": options.get("WeChatServerToken")})
    if answer.get("success") is not True:
        raise ApiError(text_field(answer, "message") or "微信服务器拒绝了请求")
    wechat_id = text_field(answer, "data")
    if not wechat_id:
        raise ApiError("验证码错误或已过期")
    return Identity("wechat_id", wechat_id)
