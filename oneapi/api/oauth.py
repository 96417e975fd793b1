"""/api/oauth/*: sign-in, sign-up and binding through GitHub, Lark, OIDC and a WeChat Server (SPEC §6).

A signed-in caller binds the identity to their account; anyone else is signed in (or signed up, when
RegisterEnabled). GitHub, Lark and OIDC callbacks must bring back the state issued to the same browser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from oneapi import auth
from oneapi.accounts.github import github_identity
from oneapi.accounts.lark import lark_identity
from oneapi.accounts.oauth import Identity, bind, check_state, new_state, sign_in
from oneapi.accounts.oidc import oidc_identity
from oneapi.accounts.wechat import wechat_identity
from oneapi.api.common import INVALID_PARAMS, body_str, read_json
from oneapi.auth import current_user, require
from oneapi.constants import Role, UserStatus
from oneapi.errors import ApiError, api_ok
from oneapi.state import STATE, AppState
from oneapi.users import update_user

Resolver = Callable[[AppState, str], Awaitable[Identity]]


async def oauth_state(request: web.Request) -> web.Response:
    return api_ok(await new_state(request))


def _redirect_flow(resolve: Resolver, enabled: Callable[[AppState], bool], disabled: str, prefix: str,
                   default_name: str, taken: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The callback of an OAuth provider that redirects back with ``code`` and ``state``."""

    async def callback(request: web.Request) -> web.Response:
        state = request.app[STATE]
        await check_state(request)
        if not enabled(state):
            raise ApiError(disabled)
        identity = await resolve(state, request.query.get("code", ""))
        user = await auth.session_user(request)
        if user is not None and user.status == UserStatus.ENABLED:
            return await bind(request, user, identity, taken)
        return await sign_in(request, identity, prefix, default_name)

    return callback


github = _redirect_flow(
    github_identity, lambda s: s.options.bool("GitHubOAuthEnabled"), "管理员未开启通过 GitHub 登录以及注册",
    "github", "GitHub User", "该 GitHub 账户已被绑定")
lark = _redirect_flow(
    lark_identity, lambda s: bool(s.options.get("LarkClientId")), "管理员未开启通过飞书登录以及注册",
    "lark", "Lark User", "该飞书账户已被绑定")
oidc = _redirect_flow(
    oidc_identity, lambda s: s.options.bool("OidcEnabled"), "管理员未开启通过 OIDC 登录以及注册",
    "oidc", "OIDC User", "该 OIDC 账户已被绑定")

_WECHAT_OFF = "管理员未开启通过微信登录以及注册"


async def wechat(request: web.Request) -> web.Response:
    """``GET /api/oauth/wechat?code=``: the code the official account gave the user."""
    state = request.app[STATE]
    if not state.options.bool("WeChatAuthEnabled"):
        raise ApiError(_WECHAT_OFF)
    identity = await wechat_identity(state, request.query.get("code", ""))
    return await sign_in(request, identity, "wechat", "WeChat User")


@require(Role.COMMON)
async def wechat_bind(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.options.bool("WeChatAuthEnabled"):
        raise ApiError(_WECHAT_OFF)
    identity = await wechat_identity(state, request.query.get("code", ""))
    return await bind(request, current_user(request), identity, "该微信账号已被绑定", message="")


_UNBINDABLE = {"email": "email", "github": "github_id", "wechat": "wechat_id", "lark": "lark_id", "oidc": "oidc_id"}


@require(Role.COMMON)
async def unbind(request: web.Request) -> web.Response:
    """``POST /api/user/unbind {kind}`` (ours; One API cannot unbind): detach an email or identity, as long as
    another one stays to sign in or reset the password with."""
    body = await read_json(request)
    column = _UNBINDABLE.get(body_str(body, "kind") or "")
    if column is None:
        raise ApiError(f"{INVALID_PARAMS}：kind 只能是 {'、'.join(_UNBINDABLE)}")
    user = current_user(request)
    if not getattr(user, column):
        raise ApiError("尚未绑定")
    if not any(getattr(user, other) for other in _UNBINDABLE.values() if other != column):
        raise ApiError("解绑后将无法找回账号：请先绑定邮箱或其他登录方式")
    await update_user(request.app[STATE], user.id, {column: ""})
    return api_ok()
