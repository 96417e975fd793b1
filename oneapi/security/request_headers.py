"""Headers that are not UTF-8, and NUL characters in the admin API's query strings, are the client's error,
never a 500 further down (a DB query, a log line).

aiohttp keeps undecodable header bytes as surrogates; anything that later encodes such a string fails.
A bad ``Authorization`` is an authentication failure in the route's shape; any other bad header is a 400.
PostgreSQL's text cannot hold U+0000 (it refuses the query), so ``%00`` in an /api query is a 400 on every
backend (the JSON bodies' strings are checked by ``api.common.read_json``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from oneapi.errors import ApiError, RelayError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _undecodable(value: str) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_headers(request: web.Request) -> None:
    """401 for an Authorization header that is not UTF-8, 400 for any other such header."""
    for name, value in request.headers.items():
        if not _undecodable(value):
            continue
        relay = not request.path.startswith("/api/")
        if name.lower() == "authorization":
            if relay:
                raise RelayError("无效的令牌", status=401, type="one_api_error")
            raise ApiError("无权进行此操作，access token 无效", status=401)
        message = f"the {name} header is not valid UTF-8"
        if relay:
            raise RelayError(message, status=400, type="invalid_request_error", code="invalid_header")
        raise ApiError(message, status=400)


NUL_REFUSAL = "无效的参数：不能包含 NUL 字符 (U+0000)"


@web.middleware
async def reject_undecodable_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    check_headers(request)
    if "\x00" in request.query_string and request.path.startswith("/api/"):  # the query string as decoded
        raise ApiError(NUL_REFUSAL, status=400)
    return await handler(request)
