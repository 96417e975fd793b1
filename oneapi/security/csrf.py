"""Cross-site request forgery: a browser's write from another site never acts with our session cookie.

Browsers tell us where a request comes from (``Origin``, ``Sec-Fetch-Site``, ``Referer``) on every
cross-site write, so a request naming another origin - or ``null`` - is refused whatever its body type.
A request with none of these headers is not a browser's (curl, scripts, SDKs) and keeps working, and a
caller with an access token in ``Authorization`` is not cookie-based at all. Login, registration and
password reset are covered even without a cookie (login CSRF), and so are One API's GET routes that
change state, which keep their verb for One API's frontend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from oneapi.errors import ApiError
from oneapi.security.client_ip import is_trusted_proxy

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# One API's frontend calls these with GET although they change something.
STATE_CHANGING_GETS = ("/api/user/token", "/api/user/logout", "/api/channel/test", "/api/channel/update_balance")
# Reachable without a session: a forged sign-in would plant the attacker's account in the victim's browser.
SIGN_IN_PATHS = ("/api/user/login", "/api/user/register", "/api/user/reset")
SESSION_COOKIE = "session"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _our_host(request: web.Request) -> str:
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if forwarded and is_trusted_proxy(request):
        return forwarded.lower()
    return request.host.lower()


def cross_site(request: web.Request) -> bool:
    """True when the browser says the request was sent by a page of another site."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.strip() == "null" or urlsplit(origin.strip()).netloc.lower() != _our_host(request)
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return True
    referer = request.headers.get("Referer")
    if referer:
        return urlsplit(referer.strip()).netloc.lower() != _our_host(request)
    return False


def _guarded(request: web.Request) -> bool:
    path = request.path
    if not path.startswith("/api/"):
        return False
    if request.method in SAFE_METHODS and not path.startswith(STATE_CHANGING_GETS):
        return False
    if path.startswith(SIGN_IN_PATHS):
        return True
    return SESSION_COOKIE in request.cookies and not request.headers.get("Authorization", "").strip()


@web.middleware
async def refuse_cross_site_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _guarded(request) and cross_site(request):
        raise ApiError("cross-site request refused", status=403)
    return await handler(request)
