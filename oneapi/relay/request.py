"""Reading a /v1 request off the wire: JSON (or a multipart upload for audio), its model, and One API's checks.

Everything a client can get wrong is refused here with a 4xx in OpenAI's shape, before any quota moves.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from oneapi.constants import RelayMode
from oneapi.errors import RelayError
from oneapi.relay.images import validate_image_request


@dataclass(slots=True)
class Parsed:
    """The client's request as read from the wire."""

    mode: RelayMode
    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    include_usage: bool
    native: dict[str, Any] | None = None  # a front door's own request, for channels that speak its format


_DEFAULT_MODELS = {
    RelayMode.MODERATIONS: "text-moderation-stable",
    RelayMode.IMAGES: "dall-e-2",
    RelayMode.AUDIO_TRANSCRIPTION: "whisper-1",
    RelayMode.AUDIO_TRANSLATION: "whisper-1",
}


def _bad_request(message: str, code: str = "invalid_text_request", status: int = 400) -> RelayError:
    return RelayError(message, status=status, type="one_api_error", code=code)


async def parse_request(request: web.Request, mode: RelayMode) -> Parsed:
    content_type = request.content_type
    if mode in (RelayMode.AUDIO_TRANSCRIPTION, RelayMode.AUDIO_TRANSLATION) and content_type.startswith("multipart/"):
        return await _parse_form(request, mode)
    if content_type.startswith("multipart/"):
        raise _unsupported_content_type(content_type)
    body, raw = await read_json(request)
    model = body.get("model")
    if model is None or model == "":
        model = request.match_info.get("model") or _DEFAULT_MODELS.get(mode, "")
    if not isinstance(model, str):
        raise _bad_request("model must be a string")
    validate_text_request(mode, body, model)
    stream = body.get("stream") is True
    options = body.get("stream_options")
    include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    return Parsed(mode, body, raw, model, stream, include_usage)


async def read_json(request: web.Request) -> tuple[dict[str, Any], bytes]:
    """The JSON object the client sent, and its exact bytes."""
    content_type = request.content_type
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        if content_type == "application/x-www-form-urlencoded":  # curl -d without a Content-Type header
            raise _unsupported_content_type(content_type) from None
        raise _bad_request(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _bad_request("the request body must be a JSON object", code="invalid_json")
    return body, raw


async def _parse_form(request: web.Request, mode: RelayMode) -> Parsed:
    """The form fields of a multipart upload (the file stays in ``raw``, forwarded byte for byte)."""
    raw = await request.read()
    header = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
    if not message.is_multipart():
        raise _bad_request("the multipart body cannot be parsed", code="invalid_form")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and not part.get_filename():
            fields[str(name)] = part.get_content() if part.get_content_maintype() == "text" else ""
    model = fields.get("model") or _DEFAULT_MODELS[mode]
    return Parsed(mode, fields, raw, model, False, False)


def _unsupported_content_type(content_type: str) -> RelayError:
    return _bad_request(f"Content-Type {content_type} is not supported here; send application/json",
                        code="unsupported_content_type", status=415)


def validate_text_request(mode: RelayMode, body: dict[str, Any], model: str) -> None:
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 0 <= max_tokens <= 1_073_741_823):
        raise _bad_request("max_tokens is invalid")
    if not model:
        raise _bad_request("model is required")
    if mode == RelayMode.CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _bad_request("field messages is required")
        if not all(isinstance(m, dict) for m in messages):
            raise _bad_request("every message must be an object")
    elif mode == RelayMode.COMPLETIONS and body.get("prompt") in ("", None):
        raise _bad_request("field prompt is required")
    elif mode in (RelayMode.MODERATIONS, RelayMode.EMBEDDINGS) and body.get("input") in ("", None, []):
        raise _bad_request("field input is required")
    elif mode == RelayMode.EDITS and not body.get("instruction"):
        raise _bad_request("field instruction is required")
    elif mode == RelayMode.IMAGES:
        validate_image_request(body, model)
    elif mode == RelayMode.AUDIO_SPEECH:
        text = body.get("input")
        if not isinstance(text, str) or not text:
            raise _bad_request("field input is required")
        if len(text) > 4096:
            raise _bad_request("input is too long (over 4096 characters)", code="text_too_long")
