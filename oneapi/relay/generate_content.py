"""The Gemini front door: POST /v1beta/models/{model}:generateContent and :streamGenerateContent.

Gemini CLI and google-genai reach every channel through it (key in ``x-goog-api-key`` or ``?key=``): Gemini
channels get the request as it is (``RelayMode.GEMINI``), the others get it as chat (``oneapi.wire.gemini``).
Errors are Google's ``{"error": {code, message, status}}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from oneapi.adaptors.base import RelayRequest
from oneapi.constants import RelayMode
from oneapi.errors import RelayError
from oneapi.relay.auth import Caller
from oneapi.relay.doors import FrontDoor
from oneapi.relay.pipeline import relay
from oneapi.relay.request import Parsed, read_json
from oneapi.wire import gemini as wire


class GenerateContentDoor(FrontDoor):
    name = "Gemini generateContent"
    native_mode = RelayMode.GEMINI
    done = b""

    def credential(self, request: web.Request) -> str:
        return (request.headers.get("x-goog-api-key") or request.query.get("key")
                or request.headers.get("Authorization") or "")

    async def parse(self, request: web.Request, mode: RelayMode, caller: Caller) -> Parsed:
        body, raw = await read_json(request)
        model = request.match_info["model"].removeprefix("models/")
        stream = request.match_info["task"] == "streamGenerateContent"
        chat = wire.chat_request(body, model, stream)
        return Parsed(RelayMode.CHAT, chat, raw, model, stream, False, native=body)

    def from_chat(self, req: RelayRequest, answer: dict[str, Any]) -> dict[str, Any]:
        return wire.answer_of(answer, req.origin_model, req.usage)

    def translator(self, req: RelayRequest) -> Any:
        return wire.ChunksFromChat(req.origin_model)

    def error_body(self, error: RelayError, request_id: str) -> dict[str, Any]:
        return wire.error_body(error)

    def stream_error(self, error: RelayError, request_id: str) -> bytes:
        return b"data: " + orjson.dumps(wire.error_body(error)) + b"\r\n\r\n"


GENERATE_CONTENT = GenerateContentDoor()


async def generate_content(request: web.Request) -> web.StreamResponse:
    if request.match_info["task"] not in ("generateContent", "streamGenerateContent"):
        error = RelayError(f"method {request.match_info['task']} is not served here", status=404)
        return GENERATE_CONTENT.error_response(error, "")
    try:
        return await relay(request, RelayMode.CHAT, GENERATE_CONTENT)
    except RelayError as error:
        return GENERATE_CONTENT.error_response(error, request.get("request_id", ""))


def setup_routes(app: web.Application) -> None:
    for version in ("v1beta", "v1"):
        app.router.add_post(f"/{version}/models/{{model}}:{{task}}", generate_content)
