"""Who is calling the admin API and the pages: a signed session cookie, or a system access token.

The cookie holds ``{id, username, role, status}`` signed with SESSION_SECRET (like One API's), but role
and status are re-read from the user cache on every request, so a demotion or a ban applies at once.
Cookie-authenticated writes must come from our own origin (Origin/Referer check): cross-site request
forgery cannot change anything, while scripts sending no such header keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from oneapi.constants import Role, UserStatus
from oneapi.db.models import User
from oneapi.errors import ApiError
from oneapi.state import STATE

COOKIE_NAME = "session"
COOKIE_MAX_AGE = 30 * 24 * 3600
USER_KEY = web.RequestKey("user", User)  # type: ignore[attr-defined]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sign(secret: str, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def encode_session(secret: str, data: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(orjson.dumps({**data, "iat": int(time.time())})).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload.encode())}"


def decode_session(secret: str, value: str) -> dict[str, Any] | None:
    payload, _, mac = value.partition(".")
    if not payload or not hmac.compare_digest(mac, _sign(secret, payload.encode())):
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or time.time() - data.get("iat", 0) > COOKIE_MAX_AGE:
        return None
    return data


def login(response: web.StreamResponse, request: web.Request, user: User) -> None:
    secret = request.app[STATE].settings.session_secret
    value = encode_session(secret, {"id": user.id, "username": user.username, "role": user.role,
                                    "status": user.status})
    response.set_cookie(COOKIE_NAME, value, max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="Lax",
                        secure=request.secure)


def logout(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path="/")


def session_user(request: web.Request) -> User | None:
    """The user of a valid session cookie, as cached now (None when absent, invalid or deleted)."""
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    data = decode_session(request.app[STATE].settings.session_secret, value)
    if data is None:
        return None
    user = request.app[STATE].cache.user(int(data.get("id", 0)))
    if user is None or user.username != data.get("username"):
        return None
    return user


def same_origin(request: web.Request) -> bool:
    """False when the browser tells us the request was sent by a page of another site."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source is None
    host = request.headers.get("X-Forwarded-Host") or request.host
    return urlsplit(source).netloc == host


async def authenticate(request: web.Request, min_role: Role) -> User:
    """One API's authHelper: session first, then the access token; raises ApiError with its messages."""
    state = request.app[STATE]
    user = session_user(request)
    via_cookie = user is not None
    if user is None:
        raw = request.headers.get("Authorization", "").strip()
        if raw.startswith("Bearer "):
            raw = raw[len("Bearer "):].strip()
        if not raw:
            raise ApiError("无权进行此操作，未登录且未提供 access token", status=401)
        user = state.cache.user_by_access_token(raw)
        if user is None:
            user = await User.aget_or_none(User.access_token == raw)
            if user is not None:
                state.cache.put_user(user)
        if user is None:
            raise ApiError("无权进行此操作，access token 无效")
    if user.status != UserStatus.ENABLED:
        raise ApiError("用户已被封禁")
    if user.role < min_role:
        raise ApiError("无权进行此操作，权限不足")
    if via_cookie and request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin(request):
        raise ApiError("cross-site request refused", status=403)
    request[USER_KEY] = user
    return user


def require(min_role: Role) -> Callable[[Handler], Handler]:
    """Decorate an admin handler: it runs only for a caller with at least ``min_role``."""

    def decorate(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            await authenticate(request, min_role)
            return await handler(request)

        wrapped.__name__ = handler.__name__
        wrapped.__doc__ = handler.__doc__
        return wrapped

    return decorate


def current_user(request: web.Request) -> User:
    """The caller of a ``@require``-decorated handler."""
    return request[USER_KEY]
