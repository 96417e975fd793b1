"""The Anthropic Messages front door: POST /v1/messages and /v1/messages/count_tokens.

Claude Code and the anthropic SDKs reach every channel through it: Claude channels get the request as it
is (``RelayMode.MESSAGES``), the others get it as chat, converted both ways by ``oneapi.wire.anthropic``.
Errors are Anthropic's ``{"type": "error", "error": {type, message}}``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from oneapi.adaptors.anthropic import claude_headers
from oneapi.adaptors.base import RelayRequest, off_loop_if_large
from oneapi.adaptors.registry import adaptor_for
from oneapi.constants import RelayMode
from oneapi.errors import RelayError
from oneapi.relay.auth import Caller, authenticate_token, check_model_allowed
from oneapi.relay.doors import FrontDoor
from oneapi.relay.pipeline import mapped_model, pick_channel, relay, upstream_for
from oneapi.relay.request import Parsed, read_json
from oneapi.state import STATE
from oneapi.wire import anthropic as wire
from oneapi.wire.openai_chat import named_event


class MessagesDoor(FrontDoor):
    name = "Anthropic Messages"
    native_mode = RelayMode.MESSAGES
    done = b""

    def credential(self, request: web.Request) -> str:
        return request.headers.get("x-api-key") or request.headers.get("Authorization") or ""

    async def parse(self, request: web.Request, mode: RelayMode, caller: Caller) -> Parsed:
        body, raw = await read_json(request)
        chat = wire.chat_request(body)
        return Parsed(RelayMode.CHAT, chat, raw, chat["model"], chat.get("stream") is True, False, native=body)

    def from_chat(self, req: RelayRequest, answer: dict[str, Any]) -> dict[str, Any]:
        return wire.message_of(answer, req.origin_model, wire.usage_of(req.usage.as_openai()))

    def translator(self, req: RelayRequest) -> Any:
        return wire.EventsFromChat(req.origin_model, req.counted_prompt_tokens())

    def error_body(self, error: RelayError, request_id: str) -> dict[str, Any]:
        return wire.error_body(error)

    def stream_error(self, error: RelayError, request_id: str) -> bytes:
        return named_event(wire.error_body(error))


MESSAGES = MessagesDoor()


async def messages(request: web.Request) -> web.StreamResponse:
    try:
        return await relay(request, RelayMode.CHAT, MESSAGES)
    except RelayError as error:
        return MESSAGES.error_response(error, request.get("request_id", ""))


async def count_tokens(request: web.Request) -> web.Response:
    """Claude channels count for themselves; for any other channel the prompt is counted here. Nothing is billed."""
    try:
        state = request.app[STATE]
        caller = await authenticate_token(request, state, MESSAGES.credential(request))
        body, raw = await read_json(request)
        chat = wire.chat_request({**body, "max_tokens": body.get("max_tokens") or 1})
        check_model_allowed(caller.token, chat["model"])
        channel = pick_channel(state, caller, chat["model"], set())
        model = mapped_model(channel, chat["model"])
        if not adaptor_for(channel.type).supports(RelayMode.MESSAGES):
            tokens = await off_loop_if_large(len(raw), state.counter.prompt, chat, model)
            return web.json_response({"input_tokens": tokens})
        upstream = upstream_for(channel)
        await state.dbs.release()
        payload = orjson.dumps({**{k: v for k, v in body.items() if k != "max_tokens"}, "model": model})
        try:
            async with state.http.post(f"{upstream.base_url}/v1/messages/count_tokens", data=payload,
                                       headers=claude_headers(upstream.key, request.headers),
                                       timeout=aiohttp.ClientTimeout(total=60)) as resp:
                return web.Response(status=resp.status, body=await resp.read(), content_type="application/json")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelayError(f"the upstream could not be reached: {exc}", status=502, type="api_error") from None
    except RelayError as error:
        return MESSAGES.error_response(error, request.get("request_id", ""))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
