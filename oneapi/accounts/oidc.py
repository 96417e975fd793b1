"""OpenID Connect: endpoints from the Oidc* options, or discovered from OidcWellKnown when they are empty."""

from __future__ import annotations

import time

from oneapi.accounts.oauth import Identity, exchange_code, fetch_json, text_field
from oneapi.errors import ApiError
from oneapi.state import AppState

SERVICE = "OIDC"
DISCOVERY_TTL = 3600
_discovered: dict[str, tuple[float, dict[str, str]]] = {}


async def discover(state: AppState, well_known: str) -> dict[str, str]:
    """The provider's metadata (authorization, token and userinfo endpoints), kept an hour per URL."""
    cached = _discovered.get(well_known)
    if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
        return cached[1]
    document = await fetch_json(state, SERVICE, "GET", well_known, headers={"Accept": "application/json"})
    endpoints = {name: text_field(document, name)
                 for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")}
    _discovered[well_known] = (time.monotonic(), endpoints)
    return endpoints


async def endpoint(state: AppState, name: str) -> str:
    """``authorization``, ``token`` or ``userinfo``: the option when set, else the discovered one."""
    options = state.options
    configured = options.get(f"Oidc{name.capitalize()}Endpoint")
    if configured:
        return configured
    well_known = options.get("OidcWellKnown")
    found = (await discover(state, well_known)).get(f"{name}_endpoint", "") if well_known else ""
    if not found:
        raise ApiError(f"OIDC 配置不完整：缺少 {name} endpoint，请填写 OidcWellKnown 或各个端点")
    return found


async def oidc_identity(state: AppState, code: str) -> Identity:
    if not code:
        raise ApiError("无效的参数")
    options = state.options
    client = options.get("OidcClientId"), options.get("OidcClientSecret")
    token = await exchange_code(state, SERVICE, await endpoint(state, "token"), client, code, "oidc", form=True)
    user = await fetch_json(state, SERVICE, "GET", await endpoint(state, "userinfo"),
                            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    subject = text_field(user, "sub")
    if not subject:
        raise ApiError("返回值非法，用户字段为空，请稍后重试！")
    return Identity("oidc_id", subject, text_field(user, "name"), text_field(user, "email"),
                    text_field(user, "preferred_username"))
