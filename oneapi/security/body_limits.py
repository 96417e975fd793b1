"""Bounded memory before anything else runs: body sizes, compressed bodies and their expansion.

Requests that anyone may send without signing in (login, registration, codes, reset) carry a few fields,
so they get a small limit; everything else gets ONEAPI_MAX_BODY_MB. A declared ``Content-Length`` over
the limit is refused before a byte is read; a body without one is cut off when it passes the limit.
aiohttp's own decompression is off (see make_app) so that every encoding - gzip, deflate, br, zstd - is
decoded here, by the compression libraries, with the same cap on the decoded size: a zip bomb is a 413.
"""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import Awaitable, Callable

import brotli
import zstandard
from aiohttp import streams, web

from oneapi.config import Settings
from oneapi.errors import ApiError, RelayError
from oneapi.state import STATE

UNAUTHENTICATED_BODY_LIMIT = 64 * 1024
UNAUTHENTICATED_PATHS = ("/api/user/login", "/api/user/register", "/api/user/reset", "/api/verification",
                         "/api/reset_password", "/api/oauth/")
ENCODINGS = ("gzip", "x-gzip", "deflate", "br", "zstd")
_CHUNK = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TooLarge(Exception):
    """The decoded body would pass the limit."""


def app_body_limit(settings: Settings) -> int:
    """ONEAPI_MAX_BODY_MB in bytes: the app's own limit (``client_max_size``), for all but the paths above."""
    return settings.max_body_mb * 1024 * 1024


def body_limit(request: web.Request) -> int:
    """The most bytes (decoded) this request's body may have."""
    if request.path.startswith(UNAUTHENTICATED_PATHS):
        return UNAUTHENTICATED_BODY_LIMIT
    return app_body_limit(request.app[STATE].settings)


def _too_large(request: web.Request) -> Exception:
    message = "the request body is too large"
    if request.path.startswith("/api/"):
        return ApiError(message, status=413)
    return RelayError(message, status=413, type="invalid_request_error", code="request_too_large")


def _unsupported(request: web.Request, encoding: str) -> Exception:
    message = f"Content-Encoding {encoding!r} is not supported (use gzip, deflate, br or zstd)"
    if request.path.startswith("/api/"):
        return ApiError(message, status=415)
    return RelayError(message, status=415, type="invalid_request_error", code="unsupported_content_encoding")


def _undecodable(request: web.Request) -> Exception:
    message = "the request body cannot be decoded with its Content-Encoding"
    if request.path.startswith("/api/"):
        return ApiError(message, status=400)
    return RelayError(message, status=400, type="invalid_request_error", code="invalid_body")


def decode(encoding: str, raw: bytes, limit: int) -> bytes:
    """``raw`` decoded, never more than ``limit`` bytes of output (TooLarge beyond)."""
    if encoding == "zstd":
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as reader:
            out = reader.read(limit + 1)
    elif encoding == "br":
        decompressor = brotli.Decompressor()
        out = decompressor.process(raw, output_buffer_limit=limit + 1)
        if not decompressor.is_finished() and len(out) <= limit:
            raise ValueError("truncated brotli stream")
    else:
        wbits = zlib.MAX_WBITS | 32 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        if encoding == "deflate" and raw[:1] and raw[0] & 0x0F != 8:
            wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header, as some clients send
        out = zlib.decompressobj(wbits).decompress(raw, limit + 1)
    if len(out) > limit:
        raise TooLarge
    return out


async def _read_capped(request: web.Request, limit: int) -> bytes:
    data = bytearray()
    while chunk := await request.content.read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise TooLarge
    return bytes(data)


def _with_body(request: web.Request, body: bytes, limit: int) -> web.Request:
    """The request again, its payload replaced by the decoded bytes (json(), post(), multipart() all see them)."""
    reader = streams.StreamReader(request.protocol, 2**16, loop=asyncio.get_running_loop())
    reader.feed_data(body)
    reader.feed_eof()
    clone = request.clone(client_max_size=limit)
    clone._payload = reader  # aiohttp has no public way to swap a request's body
    return clone


async def with_body_limit(request: web.Request) -> web.Request:
    """The request as the handler gets it: refused (413) when Content-Length says it is over the limit, its
    body decoded under the same cap when compressed, with the path's limit when that is not the app's own."""
    if request.method in ("GET", "HEAD", "OPTIONS") and not request.body_exists:
        return request
    limit = body_limit(request)
    if (request.content_length or 0) > limit:
        raise _too_large(request)
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return request if limit == app_body_limit(request.app[STATE].settings) else request.clone(client_max_size=limit)
    if encoding not in ENCODINGS:
        raise _unsupported(request, encoding)
    try:
        body = decode(encoding, await _read_capped(request, limit), limit)
    except TooLarge:
        raise _too_large(request) from None
    except (zlib.error, brotli.error, zstandard.ZstdError, ValueError):
        raise _undecodable(request) from None
    return _with_body(request, body, limit)


@web.middleware
async def body_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse bodies over the limit from Content-Length, decode compressed ones under the same cap."""
    return await handler(await with_body_limit(request))
