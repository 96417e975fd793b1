"""Every page: its route, template, who may open it, and the server-side values it shows.

The handlers only render; lists and changes go through /api from the page's script, so a page and
a script calling the API see the same rules and the same messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from oneapi.accounts.oidc import endpoint as oidc_endpoint
from oneapi.constants import CHANNEL_TYPE_INFO, ChannelType, LogType, Role
from oneapi.errors import ApiError
from oneapi.options import Options
from oneapi.security.redirects import safe_redirect
from oneapi.state import STATE
from oneapi.web import i18n
from oneapi.web.markdown import is_frame_url
from oneapi.web.render import PAGE_USER, language, render

Context = Callable[[web.Request], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    title: str  # catalogue key
    role: Role | None = None  # None: public
    context: Context | None = None
    guest_only: bool = False  # signed-in users are sent on (login, register)


@dataclass(frozen=True)
class OptionField:
    key: str
    kind: str  # text, number, url, bool, json, textarea, secret


@dataclass(frozen=True)
class OptionSection:
    id: str
    fields: tuple[OptionField, ...]
    columns: bool = True


def _fields(kind: str, *keys: str) -> tuple[OptionField, ...]:
    return tuple(OptionField(key, kind) for key in keys)


# The root's settings tabs (SPEC §6.1): the section layout is data, the template renders it generically.
OPTION_TABS: tuple[tuple[str, tuple[OptionSection, ...]], ...] = (
    ("operation", (
        OptionSection("quota", _fields("number", "QuotaForNewUser", "PreConsumedQuota", "QuotaForInviter",
                                       "QuotaForInvitee", "QuotaRemindThreshold", "QuotaPerUnit", "RetryTimes")
                      + _fields("url", "TopUpLink", "ChatLink")),
        OptionSection("general", _fields("bool", "LogConsumeEnabled", "DisplayInCurrencyEnabled",
                                         "DisplayTokenStatEnabled", "ApproximateTokenEnabled")),
        OptionSection("monitor", _fields("number", "ChannelDisableThreshold")
                      + _fields("bool", "AutomaticDisableChannelEnabled", "AutomaticEnableChannelEnabled")),
        OptionSection("ratio", _fields("json", "ModelRatio", "CompletionRatio", "GroupRatio"), columns=False),
    )),
    ("system", (
        OptionSection("server", _fields("url", "ServerAddress")),
        OptionSection("login", _fields("bool", "PasswordLoginEnabled", "PasswordRegisterEnabled",
                                       "EmailVerificationEnabled", "GitHubOAuthEnabled", "OidcEnabled",
                                       "WeChatAuthEnabled", "RegisterEnabled", "TurnstileCheckEnabled")),
        OptionSection("email_domain", _fields("bool", "EmailDomainRestrictionEnabled")
                      + _fields("text", "EmailDomainWhitelist")),
        OptionSection("smtp", _fields("text", "SMTPServer") + _fields("number", "SMTPPort")
                      + _fields("text", "SMTPAccount", "SMTPFrom") + _fields("secret", "SMTPToken")),
        OptionSection("github", _fields("text", "GitHubClientId") + _fields("secret", "GitHubClientSecret")),
        OptionSection("lark", _fields("text", "LarkClientId") + _fields("secret", "LarkClientSecret")),
        OptionSection("oidc", _fields("text", "OidcClientId") + _fields("secret", "OidcClientSecret")
                      + _fields("url", "OidcWellKnown", "OidcAuthorizationEndpoint", "OidcTokenEndpoint",
                                "OidcUserinfoEndpoint")),
        OptionSection("wechat", _fields("url", "WeChatServerAddress") + _fields("secret", "WeChatServerToken")
                      + _fields("url", "WeChatAccountQRCodeImageURL")),
        OptionSection("pusher", _fields("url", "MessagePusherAddress") + _fields("secret", "MessagePusherToken")),
        OptionSection("turnstile", _fields("text", "TurnstileSiteKey") + _fields("secret", "TurnstileSecretKey")),
    )),
    ("other", (
        OptionSection("content", _fields("textarea", "Notice") + _fields("text", "SystemName")
                      + _fields("url", "Logo") + _fields("textarea", "HomePageContent", "About", "Footer"),
                      columns=False),
    )),
)

LOG_TYPES = (
    (LogType.UNKNOWN, "log.type_all"), (LogType.TOPUP, "log.type_topup"), (LogType.CONSUME, "log.type_consume"),
    (LogType.MANAGE, "log.type_manage"), (LogType.SYSTEM, "log.type_system"), (LogType.TEST, "log.type_test"),
)


def channel_types(lang: str) -> list[tuple[int, str]]:
    return [(int(t), i18n.channel_type_name(lang, t)) for t in ChannelType if t != ChannelType.UNKNOWN]


def _item_id(request: web.Request) -> int | None:
    raw = request.match_info.get("id")
    return int(raw) if raw else None


# -- per-page values ----------------------------------------------------------------------------------
async def home_context(request: web.Request) -> dict[str, Any]:
    state = request.app[STATE]
    content = state.options.get("HomePageContent").strip()
    origin = state.options.get("ServerAddress").rstrip("/") or f"{request.scheme}://{request.host}"
    return {"notice": state.options.get("Notice"), "home_content": content,
            "home_is_frame": is_frame_url(content), "started_at": state.started_at,
            "api_base": origin + "/v1"}


async def about_context(request: web.Request) -> dict[str, Any]:
    about = request.app[STATE].options.get("About").strip()
    return {"about": about, "about_is_frame": is_frame_url(about)}


async def authorize_urls(request: web.Request) -> dict[str, str]:
    """Where the sign-in and binding buttons send the browser: each provider's consent page."""
    state = request.app[STATE]
    settings = state.settings
    urls = {"github": f"{settings.github_base_url.rstrip('/')}/login/oauth/authorize",
            "lark": f"{settings.lark_base_url.rstrip('/')}/suite/passport/oauth/authorize", "oidc": ""}
    if state.options.bool("OidcEnabled"):
        with contextlib.suppress(ApiError):  # not configured or unreachable: the callback will say why
            urls["oidc"] = await oidc_endpoint(state, "authorization")
    return urls


async def login_context(request: web.Request) -> dict[str, Any]:
    return {"next_path": safe_redirect(request.query.get("next"), "/dashboard"),
            "login_required": "next" in request.query,
            "authorize": await authorize_urls(request)}


async def register_context(request: web.Request) -> dict[str, Any]:
    options = request.app[STATE].options
    site_key = options.get("TurnstileSiteKey") if options.bool("TurnstileCheckEnabled") else ""
    return {"aff": request.query.get("aff", "")[:32], "turnstile_site_key": site_key,
            "authorize": await authorize_urls(request)}


async def reset_context(request: web.Request) -> dict[str, Any]:
    context = await register_context(request)
    if request.path == "/user/reset":
        context.update(reset_email=request.query.get("email", ""), reset_token=request.query.get("token", ""))
    else:
        context.update(reset_email="", reset_token="")
    return context


async def oauth_context(request: web.Request) -> dict[str, Any]:
    return {"provider": request.match_info["provider"]}


async def channel_list_context(request: web.Request) -> dict[str, Any]:
    lang = language(request)
    return {"channel_types": channel_types(lang), "channel_type_map": _channel_type_map(lang)}


def _channel_type_map(lang: str) -> dict[int, dict[str, str]]:
    return {int(t): {"name": i18n.channel_type_name(lang, t), "base_url": info[1]}
            for t, info in CHANNEL_TYPE_INFO.items()}


async def channel_edit_context(request: web.Request) -> dict[str, Any]:
    return {**await channel_list_context(request), "channel_id": _item_id(request)}


def _edit_context(name: str) -> Context:
    """The editor's context: ``<name>`` is the id being edited, or None on an "add" page."""

    async def context(request: web.Request) -> dict[str, Any]:
        return {name: _item_id(request)}

    return context


async def log_context(request: web.Request) -> dict[str, Any]:
    return {"log_types": LOG_TYPES, "is_admin": request[PAGE_USER].role >= Role.ADMIN}


def is_secret(key: str) -> bool:
    """Credentials are never sent back to the browser; an empty field means "keep the stored one"."""
    return key.endswith(("Token", "Secret", "SecretKey"))


def _shown_value(options: Options, field: OptionField) -> str:
    if is_secret(field.key):
        return ""
    if field.kind == "json":
        return orjson.dumps(options.json(field.key), option=orjson.OPT_INDENT_2).decode()
    return options.get(field.key)


async def setting_context(request: web.Request) -> dict[str, Any]:
    options = request.app[STATE].options
    is_root = request[PAGE_USER].role >= Role.ROOT
    tabs = OPTION_TABS if is_root else ()
    values = {field.key: _shown_value(options, field) for _, sections in tabs for section in sections
              for field in section.fields}
    return {"tabs": ["personal", *(tab for tab, _ in tabs)], "option_tabs": tabs, "values": values,
            "authorize": await authorize_urls(request)}


PAGES: tuple[Page, ...] = (
    Page("/", "home.html", "nav.home", context=home_context),
    Page("/about", "about.html", "nav.about", context=about_context),
    Page("/login", "auth/login.html", "nav.login", context=login_context, guest_only=True),
    Page("/register", "auth/register.html", "nav.register", context=register_context, guest_only=True),
    Page("/reset", "auth/reset.html", "reset.title", context=reset_context, guest_only=True),
    Page("/user/reset", "auth/reset.html", "reset.title", context=reset_context),
    Page("/oauth/{provider:github|lark|oidc}", "auth/oauth.html", "oauth.title", context=oauth_context),
    Page("/dashboard", "dashboard.html", "nav.dashboard", Role.COMMON),
    Page("/channel", "channel/list.html", "nav.channels", Role.ADMIN, channel_list_context),
    Page("/channel/add", "channel/edit.html", "channel.add_title", Role.ADMIN, channel_edit_context),
    Page("/channel/edit/{id:\\d+}", "channel/edit.html", "channel.edit_title", Role.ADMIN, channel_edit_context),
    Page("/token", "token/list.html", "nav.tokens", Role.COMMON),
    Page("/token/add", "token/edit.html", "token.add_title", Role.COMMON, _edit_context("token_id")),
    Page("/token/edit/{id:\\d+}", "token/edit.html", "token.edit_title", Role.COMMON, _edit_context("token_id")),
    Page("/log", "log.html", "nav.logs", Role.COMMON, log_context),
    Page("/user", "user/list.html", "nav.users", Role.ADMIN),
    Page("/user/add", "user/edit.html", "user.add_title", Role.ADMIN, _edit_context("user_id")),
    Page("/user/edit/{id:\\d+}", "user/edit.html", "user.edit_title", Role.ADMIN, _edit_context("user_id")),
    Page("/redemption", "redemption/list.html", "nav.redemptions", Role.ADMIN),
    Page("/redemption/add", "redemption/edit.html", "redemption.add_title", Role.ADMIN, _edit_context("redemption_id")),
    Page("/redemption/edit/{id:\\d+}", "redemption/edit.html", "redemption.edit_title", Role.ADMIN,
         _edit_context("redemption_id")),
    Page("/topup", "topup.html", "nav.topup", Role.COMMON),
    Page("/setting", "setting.html", "nav.settings", Role.COMMON, setting_context),
    Page("/chat", "chat.html", "nav.chat", Role.COMMON),
)


def handler_for(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        extra = await page.context(request) if page.context else {}
        return await render(request, page.template, title=page.title, **extra)

    handle.__name__ = f"page_{page.template.replace('/', '_').removesuffix('.html')}"
    return handle
