"""GitHub OAuth: the code is exchanged at GITHUB_BASE_URL, the user read from GITHUB_API_BASE_URL."""

from __future__ import annotations

from oneapi.accounts.oauth import Identity, fetch_json, text_field
from oneapi.errors import ApiError
from oneapi.state import AppState

SERVICE = "GitHub"


async def github_identity(state: AppState, code: str) -> Identity:
    if not code:
        raise ApiError("无效的参数")
    options, settings = state.options, state.settings
    grant = await fetch_json(state, SERVICE, "POST", f"{settings.github_base_url.rstrip('/')}/login/oauth/access_token",
                             json={"client_id": options.get("GitHubClientId"),
                                   "client_secret": options.get("GitHubClientSecret"), "code": code},
                             headers={"Accept": "application/json"})
    token = text_field(grant, "access_token")
    if not token:
        raise ApiError(text_field(grant, "error_description") or "返回值非法，用户字段为空，请稍后重试！")
    user = await fetch_json(state, SERVICE, "GET", f"{settings.github_api_base_url.rstrip('/')}/user",
                            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    login = text_field(user, "login")
    if not login:
        raise ApiError("返回值非法，用户字段为空，请稍后重试！")
    return Identity("github_id", login, text_field(user, "name"), text_field(user, "email"))
