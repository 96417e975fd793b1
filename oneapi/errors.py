"""The two error shapes clients see: OpenAI's ``{"error": {...}}`` on /v1 and ``{success, message}`` on /api."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"


class RelayError(Exception):
    """A failure of one relay request, carried to the client in OpenAI's error shape.

    ``status`` is the HTTP status for the client; ``retryable`` tells the pipeline whether another
    channel may succeed where this one failed (upstream trouble, not a bad request).
    """

    def __init__(
        self,
        message: str,
        status: int = 500,
        type: str = "one_api_error",
        code: str | int | None = None,
        param: str | None = None,
        *,
        retryable: bool = False,
        upstream: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.retryable = retryable
        self.upstream = upstream

    def to_dict(self, request_id: str = "") -> dict[str, Any]:
        message = self.message
        if request_id:
            message = f"{message} (request id: {request_id})"
        return {"error": {"message": message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, request_id: str = "") -> web.Response:
        return web.Response(
            status=self.status, body=orjson.dumps(self.to_dict(request_id)), content_type="application/json"
        )


def upstream_error(status: int, message: str, type: str = "upstream_error", code: str | int | None = None,
                   param: str | None = None) -> RelayError:
    """An error reported by a provider; 429, 5xx and auth failures are worth trying on another channel."""
    return RelayError(
        message or f"bad response status code {status}",
        status=status,
        type=type or "upstream_error",
        code=code if code is not None else "bad_response_status_code",
        param=param if param is not None else str(status),
        retryable=status != 400 and not 200 <= status < 300,
        upstream=True,
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def api_ok(data: Any = None, message: str = "", **extra: Any) -> web.Response:
    """The admin API's success envelope."""
    body: dict[str, Any] = {"success": True, "message": message}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return json_response(body)


def api_fail(message: str, status: int = 200) -> web.Response:
    """The admin API's failure envelope; One API answers most failures with HTTP 200."""
    return json_response({"success": False, "message": message}, status=status)


class ApiError(Exception):
    """Raised inside admin handlers; the middleware turns it into ``{success: false, message}``."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
