"""Page route table: One API's page paths, the static files, the language switch and sign-out."""

from __future__ import annotations

from aiohttp import web

from oneapi.api.ratelimit import RATE_LIMITS, Handler
from oneapi.auth import logout
from oneapi.resources import static_dir
from oneapi.security.client_ip import is_https
from oneapi.security.csrf import cross_site
from oneapi.security.redirects import safe_redirect
from oneapi.state import STATE
from oneapi.web import i18n
from oneapi.web.pages import PAGES, handler_for
from oneapi.web.render import PAGE_USER, guard, page_user, render

STATIC_MAX_AGE = 604800  # a week, as One API; URLs carry a content hash (render.static_url)
GLOBAL_WEB_WINDOW = 180.0
# Scripts only from our static files (templates hold none inline); the admin's own content may embed an
# https page (One API's iframe rule) and images from anywhere over https.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
                           "form-action 'self'; frame-ancestors 'self'; frame-src 'self' https:; "
                           "img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; connect-src 'self'")
# Every path that is not the API's, the relay's or a static file: an unknown one gets the 404 page.
_FALLBACK = r"/{tail:(?!api/|api$|v1/|v1$|dashboard/|static/).*}"


async def switch_language(request: web.Request) -> web.StreamResponse:
    """Remember the chosen language in a cookie and go back to the page the switch was clicked on."""
    lang = request.match_info["lang"]
    response = web.HTTPFound(safe_redirect(request.query.get("next")))
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="Lax", httponly=True,
                        secure=is_https(request))
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    """POST-only, from our own pages: another site cannot sign the user out."""
    if cross_site(request):
        request[PAGE_USER] = await page_user(request)
        return await render(request, "error.html", status=403, title="error.forbidden_title",
                            message="error.cross_site", status_code=403)
    response = web.HTTPFound("/login")
    await logout(request, response)
    raise response


async def not_found(request: web.Request) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPNotFound()
    request[PAGE_USER] = await page_user(request)
    return await render(request, "error.html", status=404, title="error.not_found_title",
                        message="error.not_found", status_code=404)


def _is_web(path: str) -> bool:
    return not (path.startswith(("/api/", "/v1/", "/dashboard/")) or path in ("/api", "/v1"))


@web.middleware
async def web_rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One API's GlobalWeb limit (SPEC §7): pages and static files, per client IP; 429 with an empty body."""
    limits = request.app.get(RATE_LIMITS)
    if limits is None or not _is_web(request.path):
        return await handler(request)
    limit = request.app[STATE].settings.global_web_rate_limit
    if not await limits.allow(request, "GW", limit, GLOBAL_WEB_WINDOW):
        return web.Response(status=429)
    return await handler(request)


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/") and response.status == 200:
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
    elif response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")


def setup_routes(app: web.Application) -> None:
    app.router.add_static("/static/", static_dir(), name="static")
    for page in PAGES:
        app.router.add_get(page.path, guard(page.role, handler_for(page), guest_only=page.guest_only))
    app.router.add_get("/lang/{lang:" + "|".join(i18n.LANGUAGES) + "}", switch_language)
    app.router.add_post("/logout", sign_out)
    app.router.add_route("*", _FALLBACK, not_found)
    app.on_response_prepare.append(_static_headers)
    app.middlewares.append(web_rate_limit)
