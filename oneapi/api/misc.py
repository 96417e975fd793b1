"""Public site information (status, notice, about, home page) and the model/group pickers of the admin UI."""

from __future__ import annotations

from aiohttp import web

from oneapi import __version__
from oneapi.api.ratelimit import Handler
from oneapi.auth import require
from oneapi.catalogue import default_models
from oneapi.constants import ChannelType, Role
from oneapi.errors import api_ok
from oneapi.state import STATE


async def status(request: web.Request) -> web.Response:
    """What the UI needs before anyone logs in: branding, login methods, currency display."""
    state = request.app[STATE]
    options = state.options
    return api_ok({
        "version": __version__,
        "start_time": state.started_at,
        "email_verification": options.bool("EmailVerificationEnabled"),
        "github_oauth": options.bool("GitHubOAuthEnabled"),
        "github_client_id": options.get("GitHubClientId"),
        "lark_client_id": options.get("LarkClientId"),
        "system_name": options.get("SystemName"),
        "logo": options.get("Logo"),
        "footer_html": options.get("Footer"),
        "wechat_qrcode": options.get("WeChatAccountQRCodeImageURL"),
        "wechat_login": options.bool("WeChatAuthEnabled"),
        "server_address": options.get("ServerAddress") or "http://localhost:3000",
        "turnstile_check": options.bool("TurnstileCheckEnabled"),
        "turnstile_site_key": options.get("TurnstileSiteKey"),
        "top_up_link": options.get("TopUpLink"),
        "chat_link": options.get("ChatLink"),
        "quota_per_unit": options.quota_per_unit,
        "display_in_currency": options.bool("DisplayInCurrencyEnabled"),
        "oidc": options.bool("OidcEnabled"),
        "oidc_client_id": options.get("OidcClientId"),
        "oidc_well_known": options.get("OidcWellKnown"),
        "oidc_authorization_endpoint": options.get("OidcAuthorizationEndpoint"),
        "oidc_token_endpoint": options.get("OidcTokenEndpoint"),
        "oidc_userinfo_endpoint": options.get("OidcUserinfoEndpoint"),
    })


def _option_page(key: str) -> Handler:
    """A public handler answering with one content option (Notice, About, HomePageContent)."""

    async def handler(request: web.Request) -> web.Response:
        return api_ok(request.app[STATE].options.get(key))

    handler.__name__ = f"get_{key}"
    return handler


notice = _option_page("Notice")
about = _option_page("About")
home_page_content = _option_page("HomePageContent")


@require(Role.COMMON)
async def models_by_type(request: web.Request) -> web.Response:
    """channel type -> default model names, for pre-filling a new channel's models."""
    types = [t for t in ChannelType if t != ChannelType.UNKNOWN]
    return api_ok({str(int(t)): default_models(t) for t in types})


@require(Role.ADMIN)
async def groups(request: web.Request) -> web.Response:
    return api_ok(list(request.app[STATE].options.json("GroupRatio")))
