"""What every third-party sign-in shares: the OAuth state, calling the provider, and One API's
sign-in-or-sign-up-or-bind rule for the identity it returns (controller/auth/*.go)."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from peewee import fn

from oneapi import auth
from oneapi.accounts import onetime
from oneapi.accounts.visitor import visitor_id
from oneapi.api.user import login_summary
from oneapi.constants import UserStatus
from oneapi.db.models import User
from oneapi.errors import ApiError, api_ok
from oneapi.state import STATE, AppState
from oneapi.users import create_user, get_user, update_user

STATE_TTL = 600
PROVIDER_TIMEOUT = aiohttp.ClientTimeout(total=5)  # One API's http.Client timeout for these calls
_STATE_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Identity:
    """Who the provider says the caller is: ``value`` goes into the user's ``column``."""

    column: str  # github_id, wechat_id, lark_id, oidc_id
    value: str
    display_name: str = ""
    email: str = ""
    username: str = ""  # OIDC's preferred_username; the others get <prefix>_<next id>


async def new_state(request: web.Request) -> str:
    """``GET /api/oauth/state``: 12 random characters the callback must bring back, bound to this browser."""
    state = "".join(secrets.choice(_STATE_ALPHABET) for _ in range(12))
    await onetime.put(request.app[STATE], "oauth_state", visitor_id(request), state, STATE_TTL)
    return state


async def check_state(request: web.Request) -> None:
    """The callback's ``state`` must be the one issued to this browser (used once); 403 otherwise."""
    given = request.query.get("state", "")
    if not await onetime.take(request.app[STATE], "oauth_state", visitor_id(request), given):
        raise ApiError("state is empty or not same", status=403)


async def fetch_json(state: AppState, service: str, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """Call a provider; an unreachable one is One API's ``无法连接至…服务器`` and a non-object answer an error."""
    try:
        async with state.http.request(method, url, timeout=PROVIDER_TIMEOUT, **kwargs) as resp:
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(f"无法连接至 {service} 服务器，请稍后重试！（{exc or type(exc).__name__}）") from None
    except ValueError:
        raise ApiError(f"{service} 服务器返回的不是 JSON，请稍后重试！") from None
    if not isinstance(data, dict):
        raise ApiError(f"{service} 服务器返回的不是 JSON 对象，请稍后重试！")
    return data


async def exchange_code(state: AppState, service: str, url: str, client: tuple[str, str], code: str,
                        callback: str, *, form: bool) -> str:
    """RFC 6749's authorization-code grant (as a form, or as JSON for Lark): the access token, or the
    provider's refusal as the message."""
    body = {"client_id": client[0], "client_secret": client[1], "code": code, "grant_type": "authorization_code",
            "redirect_uri": f"{state.options.server_address}/oauth/{callback}"}
    payload: dict[str, Any] = {"data": body} if form else {"json": body}
    grant = await fetch_json(state, service, "POST", url, headers={"Accept": "application/json"}, **payload)
    token = text_field(grant, "access_token")
    if not token:
        raise ApiError(text_field(grant, "error_description") or text_field(grant, "error")
                       or text_field(grant, "message") or f"{service} 服务器未返回 access_token，请稍后重试！")
    return token


def text_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


async def _next_username(state: AppState, prefix: str) -> str:
    """One API's ``<prefix>_<max user id + 1>``."""
    top = await state.dbs.main.scalar(User.select(fn.MAX(User.id)))
    return f"{prefix}_{(top or 0) + 1}"


async def login_response(request: web.Request, user: User) -> web.Response:
    """What a password login answers (One API's SetupLogin), with the session cookie."""
    response = api_ok(login_summary(user))
    await auth.login(response, request, user)
    return response


async def bind(request: web.Request, user: User, identity: Identity, taken_message: str,
               message: str = "bind") -> web.Response:
    """Attach ``identity`` to the signed-in ``user`` unless another account has it."""
    if await User.aget_or_none(getattr(User, identity.column) == identity.value) is not None:
        raise ApiError(taken_message)
    await update_user(request.app[STATE], user.id, {identity.column: identity.value})
    return api_ok(message=message) if message else api_ok()


async def sign_in(request: web.Request, identity: Identity, prefix: str, default_name: str) -> web.Response:
    """Sign the owner of ``identity`` in, creating the account first when RegisterEnabled allows it."""
    state = request.app[STATE]
    user = await User.aget_or_none(getattr(User, identity.column) == identity.value)
    if user is None:
        if not state.options.bool("RegisterEnabled"):
            raise ApiError("管理员关闭了新用户注册")
        username = identity.username or await _next_username(state, prefix)
        user = await create_user(state, username, secrets.token_urlsafe(15),
                                 display_name=identity.display_name or default_name, email=identity.email)
        user = await update_user(state, user.id, {identity.column: identity.value})
    elif state.cache.user(user.id) is None:
        user = await get_user(user.id)
        state.cache.put_user(user)
    if user.status != UserStatus.ENABLED:
        raise ApiError("用户已被封禁")
    return await login_response(request, user)
