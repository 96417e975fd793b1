"""What Gemini and PaLM share: the Generative Language API's key header and its error shape."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.upstream_errors import generic_error, try_json
from oneapi.errors import RelayError, upstream_error

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def google_headers(req: RelayRequest) -> dict[str, str]:
    return {"x-goog-api-key": req.upstream.key, "Content-Type": "application/json"}


def rpc_error(error: dict[str, Any], status: int | None = None) -> RelayError:
    """``{"code", "message", "status", "details"}`` -> our error; the ErrorInfo reason becomes the code."""
    try:
        status = status or int(error.get("code") or 500)
    except (TypeError, ValueError):
        status = 500
    kind = str(error.get("status") or "upstream_error")
    reason = next((str(d["reason"]) for d in error.get("details") or ()
                   if isinstance(d, dict) and d.get("@type") == _ERROR_INFO and d.get("reason")), None)
    result = upstream_error(status, str(error.get("message") or kind), kind, reason or kind)
    delay = next((d["retryDelay"] for d in error.get("details") or ()
                  if isinstance(d, dict) and d.get("@type") == _RETRY_INFO and isinstance(d.get("retryDelay"), str)),
                 None)
    if delay is not None:  # Google says when to retry in the body ("30s"); OpenAI clients read Retry-After
        with contextlib.suppress(ValueError):
            result.headers["Retry-After"] = str(math.ceil(float(delay.removesuffix("s"))))
    if reason == "API_KEY_INVALID":
        result.retryable = True  # Google answers a dead key with 400; another channel's key may work
    return result


def no_candidates(provider: str, filter_reasons: str) -> RelayError:
    """An answer without candidates: Google's content filter said no (400 content_filter), or nothing came."""
    if filter_reasons:
        return RelayError(f"{provider} blocked the request: {filter_reasons}", status=400, type="upstream_error",
                          code="content_filter", upstream=True)
    return upstream_error(502, f"{provider} returned no candidates")


def google_error(status: int, raw: bytes) -> RelayError:
    data = try_json(raw)
    if isinstance(data, list) and data:  # streamGenerateContent without alt=sse wraps it in an array
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return rpc_error(error, status)
    return generic_error(status, raw)


def body_error(data: Any) -> RelayError | None:
    """An error object inside a 200 answer, or an answer that is not an object at all."""
    if not isinstance(data, dict):
        return upstream_error(502, "the upstream answer is not a JSON object")
    error = data.get("error")
    if isinstance(error, dict) and error.get("message"):
        return rpc_error(error)
    return None
