"""A random id per browser, in its own cookie, that OAuth states and Turnstile passes are bound to.

One API keeps those in its session cookie; we keep them server side (oneapi/accounts/onetime.py) so any
node can check them, and the browser only carries this id.
"""

from __future__ import annotations

import secrets
from http.cookies import SimpleCookie

from aiohttp import hdrs, web

VISITOR_COOKIE = "oneapi_visitor"
VISITOR_MAX_AGE = 30 * 24 * 3600
_NEW_VISITOR = "oneapi.new_visitor"


def visitor_id(request: web.Request) -> str:
    """The caller's id: the cookie's, or a new one that ``set_visitor_cookie`` will send back."""
    existing = request.cookies.get(VISITOR_COOKIE, "")
    if 20 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum():
        return existing
    if _NEW_VISITOR not in request:
        request[_NEW_VISITOR] = secrets.token_urlsafe(24)
    return request[_NEW_VISITOR]


async def set_visitor_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: hand a newly made id to the browser."""
    new = request.get(_NEW_VISITOR)
    if new:  # response.set_cookie is too late here: the cookies are already headers
        cookie = SimpleCookie()
        cookie[VISITOR_COOKIE] = new
        morsel = cookie[VISITOR_COOKIE]
        morsel.update({"max-age": str(VISITOR_MAX_AGE), "path": "/", "samesite": "Lax"})
        morsel["httponly"] = True
        if request.secure:
            morsel["secure"] = True
        response.headers.add(hdrs.SET_COOKIE, morsel.OutputString())
