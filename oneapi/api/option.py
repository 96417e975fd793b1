"""/api/option/: the system settings, root only. Credentials are write-only."""

from __future__ import annotations

import math

from aiohttp import web

from oneapi.api.common import read_json
from oneapi.auth import require
from oneapi.constants import Role
from oneapi.errors import ApiError, api_ok
from oneapi.options import default_options
from oneapi.state import STATE

# One API hides keys ending in Token or Secret; TurnstileSecretKey slipped through that rule (SPEC §10.2).
_HIDDEN_SUFFIXES = ("Token", "Secret", "SecretKey")

# An option switched on needs another one filled in first (One API's checks and messages).
_PREREQUISITES = {
    "GitHubOAuthEnabled": ("GitHubClientId",
                           "无法启用 GitHub OAuth，请先填入 GitHub Client Id 以及 GitHub Client Secret！"),
    "EmailDomainRestrictionEnabled": ("EmailDomainWhitelist", "无法启用邮箱域名限制，请先填入限制的邮箱域名！"),
    "WeChatAuthEnabled": ("WeChatServerAddress", "无法启用微信登录，请先填入微信登录相关配置信息！"),
    "TurnstileCheckEnabled": ("TurnstileSiteKey", "无法启用 Turnstile 校验，请先填入 Turnstile 校验相关配置信息！"),
}


def is_hidden(key: str) -> bool:
    return key.endswith(_HIDDEN_SUFFIXES)


def _as_text(value: object) -> str:
    """Option values are strings; scripts sending true/5 mean "true"/"5"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise ApiError("无效的参数", status=400)


def _check_kind(key: str, value: str) -> None:
    """A switch takes true/false and a number takes a number, judged by the key's default."""
    default = default_options().get(key)
    if default in ("true", "false") and value not in ("true", "false"):
        raise ApiError(f"{key} 只能是 true 或 false")
    if default is not None and default.lstrip("-").replace(".", "", 1).isdigit():
        try:
            number = float(value)
        except ValueError:
            raise ApiError(f"{key} 必须是数字") from None
        if not math.isfinite(number) or abs(number) >= 2**53:  # NaN or inf would poison every bill
            raise ApiError(f"{key} 必须是有限的数字")


@require(Role.ROOT)
async def get_options(request: web.Request) -> web.Response:
    options = request.app[STATE].options.items()
    return api_ok([{"key": key, "value": value} for key, value in options.items() if not is_hidden(key)])


@require(Role.ROOT)
async def update_option(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await read_json(request, status=400)
    key = body.get("key")
    if not isinstance(key, str) or not key:
        raise ApiError("无效的参数", status=400)
    value = _as_text(body.get("value", ""))
    _check_kind(key, value)
    prerequisite = _PREREQUISITES.get(key)
    if prerequisite is not None and value == "true" and not state.options.get(prerequisite[0]):
        raise ApiError(prerequisite[1])
    try:
        await state.options.save(state.dbs, key, value)
    except ValueError as exc:
        raise ApiError(str(exc)) from None
    return api_ok()
