"""The two error shapes clients see: OpenAI's ``{"error": {...}}`` on /v1 and ``{success, message}`` on /api."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web

from oneapi.security.redact import redact

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
T = TypeVar("T")


class RelayError(Exception):
    """A failure of one relay request, carried to the client in OpenAI's error shape.

    ``status`` is the HTTP status for the client; ``retryable`` tells the pipeline whether another
    channel may succeed where this one failed (upstream trouble, not a bad request); ``headers`` go out
    with the answer (the upstream's Retry-After and rate-limit headers, so SDKs back off as told).
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
        headers: dict[str, str] | None = None,
    ) -> None:
        message = redact(message)  # every door (OpenAI, Anthropic, Gemini shapes) reads the redacted text
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = None if code is None else str(code)  # OpenAI's code is a string or null, never a number
        self.param = param
        self.retryable = retryable
        self.upstream = upstream
        self.headers = headers or {}

    def to_dict(self, request_id: str = "") -> dict[str, Any]:
        message = self.message
        if request_id:
            message = f"{message} (request id: {request_id})"
        return {"error": {"message": message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, request_id: str = "") -> web.Response:
        return web.Response(status=self.status, body=orjson.dumps(self.to_dict(request_id)),
                            content_type="application/json", headers=self.headers)


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


def model_not_found(model: str) -> RelayError:
    """OpenAI's answer for a model the caller cannot use, so SDKs raise ``NotFoundError`` and do not retry."""
    return RelayError(f"The model `{model}` does not exist or you do not have access to it.", status=404,
                      type="invalid_request_error", code="model_not_found")


def backoff_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream headers that tell a client when to retry: Retry-After and the x-ratelimit-* family."""
    return {name: value for name, value in headers.items()
            if name.lower() in ("retry-after", "retry-after-ms") or name.lower().startswith("x-ratelimit-")}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


def api_ok(data: Any = None, message: str = "", **extra: Any) -> web.Response:
    """The admin API's success envelope."""
    body: dict[str, Any] = {"success": True, "message": redact(message)}
    if data is not None:
        body["data"] = data
    body.update(extra)
    return json_response(body)


def api_fail(message: str, status: int = 200) -> web.Response:
    """The admin API's failure envelope; One API answers most failures with HTTP 200."""
    return json_response({"success": False, "message": redact(message)}, status=status)


class ApiError(Exception):
    """Raised inside admin handlers; the middleware turns it into ``{success: false, message}``."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def found(row: T | None, missing: str) -> T:
    """The row a lookup found, or One API's ``{success: false, message: missing}`` when it found none."""
    if row is None:
        raise ApiError(missing)
    return row
