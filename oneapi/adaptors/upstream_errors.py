"""Reading what a provider says went wrong: JSON that may not be JSON, OpenAI-like error bodies, numeric codes."""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

import orjson

from oneapi.errors import RelayError, upstream_error


def channel_key_error(message: str) -> RelayError:
    """A channel key the provider's credentials cannot be read from: the admin's mistake, so another channel
    may still serve the request."""
    return RelayError(message, status=500, code="invalid_channel_key", retryable=True)


def error_number(code: Any) -> int:
    """A provider's error code as a number; 0 when it is not one."""
    try:
        return int(code)
    except (TypeError, ValueError):
        return 0


def status_for(number: int, statuses: Iterable[tuple[Container[int], int]], default: int = 500) -> int:
    """The HTTP status of a provider's numeric error code: that of the first group of codes holding it."""
    return next((status for codes, status in statuses if number in codes), default)


def try_json(raw: bytes | str) -> Any:
    """The decoded JSON, or None when ``raw`` is not JSON (error bodies and free text often are not)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def parse_json(raw: bytes, what: str = "upstream response") -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        snippet = raw[:200].decode(errors="replace")
        raise RelayError(
            f"the {what} is not valid JSON: {snippet!r}", status=502, type="upstream_error",
            code="unmarshal_response_body_failed", retryable=True, upstream=True,
        ) from None


def generic_error(status: int, raw: bytes) -> RelayError:
    """One API's upstream error parsing: OpenAI's error object, else the first message-like field."""
    data = try_json(raw)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return upstream_error(status, str(error["message"]), str(error.get("type") or "upstream_error"),
                                  error.get("code"), error.get("param"))
        for key in ("message", "msg", "err", "error_msg"):
            if isinstance(data.get(key), str) and data[key]:
                return upstream_error(status, data[key])
        if isinstance(error, str) and error:
            return upstream_error(status, error)
        header = data.get("header")
        if isinstance(header, dict) and header.get("message"):
            return upstream_error(status, str(header["message"]))
    text = raw[:500].decode(errors="replace").strip()
    return upstream_error(status, text if text and data is None else "")
