"""What wraps every request: a request id, CORS on /v1 for browsers, and errors in the right shape.

No client input may produce a 500 with a stack trace: /v1 answers in OpenAI's error shape, /api in
One API's ``{success, message}`` envelope, and anything unexpected is logged with the request id.

A relay request (``/v1/...`` but the billing emulation) is checked here in one step - its headers and its
body's size and encoding - and goes straight to its route's handler: the other middlewares guard /api and
the pages (sessions, CSRF, the global rate limits, the frontend redirect) and would only pass it on. A
middleware that relay requests must pass through has to be called from ``request_context`` for them.
"""

from __future__ import annotations

import functools
import logging
import random
import time

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from oneapi.errors import REQUEST_ID_HEADER, ApiError, RelayError, api_fail, json_response
from oneapi.security.body_limits import with_body_limit
from oneapi.security.request_headers import check_headers

logger = logging.getLogger(__name__)

_CORS = {"Access-Control-Allow-" + name: value for name, value in (
    ("Origin", "*"), ("Credentials", "true"), ("Methods", "GET, POST, PUT, DELETE, OPTIONS"), ("Headers", "*"),
    ("Max-Age", "43200"))}


@functools.lru_cache(maxsize=2)
def _local_second(second: int) -> str:
    """YYYYMMDDhhmmss of a unix second, formatted once per second rather than once per request."""
    return time.strftime("%Y%m%d%H%M%S", time.localtime(second))


def new_request_id() -> str:
    """One API's format: YYYYMMDDhhmmss + nanoseconds mod 1e9 + 8 random digits."""
    now = time.time_ns()
    second, nanos = divmod(now, 1_000_000_000)
    return _local_second(second) + str(nanos) + f"{random.randrange(10**8):08d}"


def _is_relay(path: str) -> bool:
    return path.startswith(("/v1/", "/dashboard/")) or path == "/v1"


def _openai_error(message: str, status: int, type_: str = "invalid_request_error", code: str | None = None,
                  request_id: str = "") -> web.Response:
    return RelayError(message, status=status, type=type_, code=code).response(request_id)


@web.middleware
async def request_context(request: web.Request, handler):
    """Request id, CORS and the error shapes; relay requests in one step (see the module's docstring)."""
    request_id = new_request_id()
    request["request_id"] = request_id
    path = request.path
    relay = _is_relay(path)
    try:
        if relay and request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
        elif relay and path.startswith("/v1/") and not path.startswith("/v1/dashboard/"):
            check_headers(request)
            response = await request.match_info.handler(await with_body_limit(request))
        else:
            response = await handler(request)
    except RelayError as error:
        response = error.response(request_id)
    except ApiError as error:
        response = api_fail(error.message, error.status)
    except RequestPayloadError as exc:  # a body that broke off mid-way
        message = f"the request body cannot be decoded: {exc}"
        if path.startswith("/api/"):
            response = api_fail(message, 400)
        else:
            response = _openai_error(message, 400, code="invalid_body", request_id=request_id)
    except web.HTTPException as exc:
        converted = _http_error(request, exc, request_id)
        if converted is None:
            raise
        response = converted
    except Exception:
        logger.exception("unhandled error in %s %s (request id %s)", request.method, path, request_id)
        if path.startswith("/api/"):
            response = api_fail(f"internal error (request id: {request_id})", 500)
        else:
            response = _openai_error("internal server error", 500, "one_api_error", "internal_error", request_id)
    return response


async def answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The request id on every answer, and CORS on the relay's answers to a browser (which sends ``Origin``;
    an SDK does not, and gets no CORS headers, as from One API), streams included (set as the headers go out)."""
    request_id = request.get("request_id")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
        if "Origin" in request.headers and _is_relay(request.path):
            response.headers.update(_CORS)


def _http_error(request: web.Request, exc: web.HTTPException, request_id: str) -> web.Response | None:
    """aiohttp's own refusals (404, 405, 413...) in the shape the path's clients expect; None: leave as is."""
    path = request.path
    if exc.status < 400:
        return None
    if exc.status == 404 and (path.startswith("/api/") or _is_relay(path)):
        return json_response({"error": {"message": f"Invalid URL ({request.method} {path})",
                                        "type": "invalid_request_error", "param": "", "code": ""}}, 404)
    if exc.status == 413:
        message = "the request body is too large"
        if path.startswith("/api/"):
            return api_fail(message, 413)
        return _openai_error(message, 413, code="request_too_large", request_id=request_id)
    if path.startswith("/api/"):
        return api_fail(exc.reason, exc.status)
    if _is_relay(path):
        return _openai_error(exc.reason, exc.status, request_id=request_id)
    return None


def frontend_redirect(base_url: str):
    """Slave nodes with FRONTEND_BASE_URL send page requests to the master's pages (301), as One API does."""
    base = base_url.rstrip("/")

    @web.middleware
    async def redirect(request: web.Request, handler):
        if request.path.startswith(("/api/", "/v1/", "/dashboard/billing")):
            return await handler(request)
        raise web.HTTPMovedPermanently(base + request.path_qs)

    return redirect
