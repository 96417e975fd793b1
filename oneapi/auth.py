"""Who is calling the admin API and the pages: a signed session cookie, or a system access token.

The cookie is signed and timestamped by itsdangerous with SESSION_SECRET and names the user and the
session generation it was issued under (oneapi/security/sessions.py); role and status are re-read from
the user cache on every request, so a demotion or a ban applies at once, and a bumped generation ends
the cookie on every node. ``session_user`` is the one way both web/ and api/ read the signed-in user.
Cross-site writes are refused by oneapi/security/csrf.py before any handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from oneapi.constants import Role, UserStatus
from oneapi.db.models import User
from oneapi.errors import ApiError
from oneapi.security.client_ip import is_https
from oneapi.security.csrf import SESSION_COOKIE
from oneapi.security.sessions import current_generation, end_sessions
from oneapi.state import STATE

COOKIE_NAME = SESSION_COOKIE
USER_KEY = web.RequestKey("user", User)
_SESSION_KEY = "oneapi.session_user"  # the cookie's user, looked up once per request
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@lru_cache(maxsize=4)
def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="oneapi.session")


def encode_session(secret: str, data: dict[str, Any]) -> str:
    return _serializer(secret).dumps(data)


def decode_session(secret: str, value: str, max_age: int) -> dict[str, Any] | None:
    """The cookie's data if its signature holds and it is younger than ``max_age`` seconds."""
    try:
        data = _serializer(secret).loads(value, max_age=max_age)
    except (BadSignature, ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


async def login(response: web.StreamResponse, request: web.Request, user: User) -> None:
    """Give this browser a cookie for ``user``'s current session generation."""
    settings = request.app[STATE].settings
    value = encode_session(settings.session_secret, {"id": user.id, "username": user.username,
                                                     "gen": await current_generation(user.id)})
    response.set_cookie(COOKIE_NAME, value, max_age=settings.session_max_age, path="/", httponly=True,
                        samesite="Lax", secure=is_https(request))


async def logout(request: web.Request, response: web.StreamResponse) -> None:
    """Sign out: this cookie goes, and so does every other session of the same user (on every node)."""
    user = await session_user(request)
    if user is not None:
        async with request.app[STATE].dbs.write_transaction():
            await end_sessions(request.app[STATE].dbs, user.id)
    response.del_cookie(COOKIE_NAME, path="/")


async def session_user(request: web.Request) -> User | None:
    """The user of a valid, unrevoked session cookie, as cached now (None when absent, invalid, ended or
    deleted). Pages and the admin API both call this; the answer is kept for the rest of the request."""
    if _SESSION_KEY in request:
        return request[_SESSION_KEY]
    user = await _cookie_user(request)
    request[_SESSION_KEY] = user
    return user


async def _cookie_user(request: web.Request) -> User | None:
    value = request.cookies.get(COOKIE_NAME)
    if not value:
        return None
    settings = request.app[STATE].settings
    data = decode_session(settings.session_secret, value, settings.session_max_age)
    if data is None or not isinstance(data.get("id"), int):
        return None
    user = request.app[STATE].cache.user(data["id"])
    if user is None or user.username != data.get("username"):
        return None
    if data.get("gen") != await current_generation(user.id):
        return None
    return user


async def authenticate(request: web.Request, min_role: Role) -> User:
    """One API's authHelper: session first, then the access token; raises ApiError with its messages."""
    state = request.app[STATE]
    user = await session_user(request)
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
