"""Rendering a page: the Jinja2 environment, the context every page shares, and the access check.

Pages are shells rendered on the server (branding, labels, the signed-in user, option values); the data
they list and the changes they make go through the /api endpoints from small scripts in static/js.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from oneapi import __version__
from oneapi.auth import session_user
from oneapi.constants import Role, UserStatus
from oneapi.db.models import User
from oneapi.options import Options
from oneapi.resources import static_dir, templates_dir
from oneapi.security.redirects import safe_redirect
from oneapi.state import STATE
from oneapi.users import check_password
from oneapi.web import i18n
from oneapi.web.markdown import render_rich

if TYPE_CHECKING:
    import jinja2

PAGE_USER = "oneapi.page_user"
DEFAULT_ROOT_PASSWORD = "123456"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str  # catalogue key
    role: Role | None  # None: everyone, signed in or not
    option: str = ""  # shown only when this option is non-empty


NAV = (
    NavItem("/", "nav.home", None),
    NavItem("/dashboard", "nav.dashboard", Role.COMMON),
    NavItem("/channel", "nav.channels", Role.ADMIN),
    NavItem("/token", "nav.tokens", Role.COMMON),
    NavItem("/log", "nav.logs", Role.COMMON),
    NavItem("/user", "nav.users", Role.ADMIN),
    NavItem("/redemption", "nav.redemptions", Role.ADMIN),
    NavItem("/topup", "nav.topup", Role.COMMON),
    NavItem("/chat", "nav.chat", Role.COMMON, option="ChatLink"),
    NavItem("/setting", "nav.settings", Role.COMMON),
    NavItem("/about", "nav.about", None),
)


@functools.cache
def _file_version(path: str) -> str:
    try:
        return hashlib.sha256((static_dir() / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """A content-versioned URL, so static files can be cached for a week and still update on upgrade."""
    return f"/static/{path}?v={_file_version(path)}"


def _translate(context: jinja2.runtime.Context, key: str, **params: Any) -> str:
    return i18n.translate(context["lang"], key, **params)


def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    return i18n.gettext_for(context["lang"]).gettext(message)


def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
    return i18n.gettext_for(context["lang"]).ngettext(singular, plural, n)


def _pgettext(context: jinja2.runtime.Context, msgctxt: str, message: str) -> str:
    return i18n.gettext_for(context["lang"]).pgettext(msgctxt, message)


def _npgettext(context: jinja2.runtime.Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return i18n.gettext_for(context["lang"]).npgettext(msgctxt, singular, plural, n)


@functools.cache
def environment() -> jinja2.Environment:
    """Made at the first page rendered: Jinja2 and the templates are not loaded at start-up."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Jinja2's i18n extension (_(), {% trans %}) and t() read the same catalogues, in the page's language.
    context = jinja2.pass_context  # each callable reads the page's language from the template's context
    env.install_gettext_callables(  # type: ignore[attr-defined]
        context(_gettext), context(_ngettext), newstyle=True, pgettext=context(_pgettext),
        npgettext=context(_npgettext))
    env.globals.update(t=context(_translate), has_t=i18n.has, static_url=static_url, Role=Role, rich=render_rich)
    return env


def format_quota(options: Options, quota: int | float) -> str:
    """Quota as the pages show it: dollars when DisplayInCurrencyEnabled, else raw units (same rule as app.js)."""
    if not options.bool("DisplayInCurrencyEnabled"):
        return f"{int(quota):,}"
    value = quota / options.quota_per_unit
    digits = 6 if value and abs(value) < 0.01 else 2
    return f"${value:,.{digits}f}"


_default_password_memo: dict[str, bool] = {}  # bcrypt hash -> does it match the default password


async def uses_default_password(user: User | None) -> bool:
    """Root still signing in with 123456; bcrypt runs once per stored hash, not once per page."""
    if user is None or user.role < Role.ROOT or not user.password:
        return False
    known = _default_password_memo.get(user.password)
    if known is None:
        known = await check_password(DEFAULT_ROOT_PASSWORD, user.password)
        if len(_default_password_memo) > 64:
            _default_password_memo.clear()
        _default_password_memo[user.password] = known
    return known


def language(request: web.Request) -> str:
    """The reader's language: the switch's cookie, else Accept-Language."""
    return i18n.negotiate(request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language"))


async def page_user(request: web.Request) -> User | None:
    """The enabled user of the session cookie; a disabled one counts as signed out."""
    user = await session_user(request)
    return user if user is not None and user.status == UserStatus.ENABLED else None


def login_url(request: web.Request) -> str:
    return "/login?next=" + quote(request.path_qs, safe="")


def _nav(user: User | None, path: str, options: Options) -> list[dict[str, Any]]:
    items = []
    for item in NAV:
        if item.role is not None and (user is None or user.role < item.role):
            continue
        if item.option and not options.get(item.option):
            continue
        active = path == item.href or (item.href != "/" and path.startswith(item.href + "/"))
        items.append({"href": item.href, "label": item.label, "active": active})
    return items


def _js_config(lang: str, user: User | None, options: Options) -> dict[str, Any]:
    """What the scripts need: the catalogue, server-message translations, quota display and the user."""
    return {
        "lang": lang,
        "i18n": i18n.catalogue(lang),
        "messages": i18n.server_messages(lang),
        "quotaPerUnit": options.quota_per_unit,
        "displayInCurrency": options.bool("DisplayInCurrencyEnabled"),
        "chatLink": options.get("ChatLink"),
        "topUpLink": options.get("TopUpLink"),
        "serverAddress": options.get("ServerAddress"),
        "user": None if user is None else {
            "id": user.id, "username": user.username, "display_name": user.display_name or "",
            "role": user.role,
        },
    }


async def render(request: web.Request, template: str, *, status: int = 200, title: str = "",
                 **extra: Any) -> web.Response:
    """Render ``template`` with the shared context (language, branding, navigation, user) plus ``extra``."""
    state = request.app[STATE]
    options = state.options
    user = request.get(PAGE_USER)
    lang = language(request)
    context: dict[str, Any] = {
        "lang": lang,
        "title": title,
        "user": user,
        "path": request.path,
        "version": __version__,
        "brand": {"name": options.get("SystemName") or "One API", "logo": options.get("Logo"),
                  "footer": options.get("Footer")},
        "nav": _nav(user, request.path, options),
        "languages": [(code, i18n.LANGUAGE_NAMES[code], f"/lang/{code}?next={quote(request.path_qs, safe='')}")
                      for code in i18n.LANGUAGES],
        "js_config": _js_config(lang, user, options),
        "default_password": await uses_default_password(user),
        "quota": functools.partial(format_quota, options),
        "options": options,
    }
    context.update(extra)
    html = environment().get_template(template).render(context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers={"Cache-Control": "no-cache", "Content-Language": lang})
    response.enable_compression()
    return response


def guard(min_role: Role | None, handler: Handler, *, guest_only: bool = False) -> Handler:
    """Wrap a page handler: sign-in and role checks; signed-in users skip guest pages (login, register)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        user = await page_user(request)
        request[PAGE_USER] = user
        if guest_only and user is not None:
            raise web.HTTPFound(safe_redirect(request.query.get("next"), "/dashboard"))
        if min_role is not None:
            if user is None:
                raise web.HTTPFound(login_url(request))
            if user.role < min_role:
                return await render(request, "error.html", status=403, title="error.forbidden_title",
                                    message="error.forbidden")
        return await handler(request)

    wrapped.__name__ = getattr(handler, "__name__", "page")
    return wrapped
