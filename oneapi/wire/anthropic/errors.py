"""Errors both ways: Claude's error bodies and stream events as our errors (egress), ours in Anthropic's shape
(ingress), one table of Anthropic's error types read both ways."""

from __future__ import annotations

from typing import Any

from oneapi.errors import RelayError, upstream_error

# Anthropic's documented error types, for errors that arrive without an HTTP status (stream events).
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
# Our status -> Anthropic's type, the first type of each status.
_ERROR_TYPES = {status: kind for kind, status in reversed(_ERROR_STATUS.items())}


# -- egress ----------------------------------------------------------------------------------------
def claude_error(error: dict[str, Any], status: int | None = None) -> RelayError:
    """Claude's ``{type, message}`` as our error, type kept as code; 529 (not a standard status) goes out as 503."""
    kind = str(error.get("type") or "api_error")
    status = status or _ERROR_STATUS.get(kind, 500)
    return upstream_error(503 if status == 529 else status, str(error.get("message") or kind), kind, kind)


def error_of(data: Any, status: int | None = None) -> RelayError | None:
    """Claude's ``{"type": "error", "error": {type, message}}`` (or just its ``error``) as our error."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("type"):
        return claude_error(error, status)
    return None


# -- ingress ---------------------------------------------------------------------------------------
def invalid(message: str) -> RelayError:
    """A Messages request Anthropic itself would refuse: 400 ``invalid_request_error``."""
    return RelayError(message, status=400, type="invalid_request_error", code="invalid_request_error")


def error_body(error: RelayError) -> dict[str, Any]:
    """Our error in Anthropic's shape; the type follows the status as Anthropic's does."""
    kind = _ERROR_TYPES.get(error.status) or (error.type if error.type in _ERROR_STATUS else None)
    if kind is None:
        kind = "api_error" if error.status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": kind, "message": error.message}}
