"""The OpenAI Responses front door: POST /v1/responses, GET and DELETE /v1/responses/{id}.

Codex CLI and the openai SDK's ``client.responses`` reach every channel through it: OpenAI and Azure channels
get the request as it is (``RelayMode.RESPONSES``), the others get it as chat (``oneapi.wire.responses``).
The gateway keeps each answer (unless ``store`` is false) so ``previous_response_id`` works on any channel:
the stored conversation is put in front of the new input before the request goes out (instructions are not
carried over, as OpenAI documents).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from peewee import PeeweeException

from oneapi.adaptors.base import Completion, RelayRequest
from oneapi.constants import ChannelType, RelayMode
from oneapi.errors import RelayError, json_response
from oneapi.relay import stored_responses
from oneapi.relay.auth import Caller, authenticate_token
from oneapi.relay.doors import FrontDoor, chat_chunks
from oneapi.relay.pipeline import relay
from oneapi.relay.request import Parsed, read_json
from oneapi.state import STATE
from oneapi.wire import responses as wire
from oneapi.wire.openai_chat import new_id

logger = logging.getLogger(__name__)
_EXCHANGE = "responses.exchange"


@dataclass
class _Exchange:
    """One /v1/responses call: who made it, the request, the whole conversation, and the answer once known."""

    token_id: int
    body: dict[str, Any]
    items: list[dict[str, Any]]
    id: str
    final: dict[str, Any] | None = None

    @property
    def stored(self) -> bool:
        return self.body.get("store") is not False


class ResponsesDoor(FrontDoor):
    name = "OpenAI Responses"
    native_mode = RelayMode.RESPONSES
    done = b""

    def speaks(self, channel_type: int) -> bool:
        return channel_type in (ChannelType.OPENAI, ChannelType.AZURE)

    async def parse(self, request: web.Request, mode: RelayMode, caller: Caller) -> Parsed:
        body, raw = await read_json(request)
        items = wire.input_items(body)
        native = body
        previous = body.get("previous_response_id")
        if previous is not None:
            found = await stored_responses.load(request.app[STATE], caller.token.id, str(previous))
            if found is None:
                raise wire.invalid(f"Previous response with id '{previous}' not found.", "previous_response_id")
            items = found[1] + items
            native = {key: value for key, value in body.items() if key != "previous_response_id"}
            native["input"] = items
            raw = orjson.dumps(native)
        chat = wire.chat_request(native, items)
        request[_EXCHANGE] = _Exchange(caller.token.id, body, items, new_id("resp_"))
        return Parsed(RelayMode.CHAT, chat, raw, chat["model"], chat.get("stream") is True, False, native=native)

    def answer(self, request: web.Request, req: RelayRequest, completion: Completion) -> Completion:
        exchange: _Exchange = request[_EXCHANGE]
        if not self.converts(req):
            exchange.final = orjson.loads(completion.body)
            return completion
        output = wire.output_of(orjson.loads(completion.body))
        exchange.final = wire.response(exchange.body, exchange.id, req.origin_model, output, wire.usage_of(req.usage))
        return Completion(orjson.dumps(exchange.final), completion.status, {"Content-Type": "application/json"})

    async def stream(self, request: web.Request, req: RelayRequest,
                     events: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
        """The stream, with the answer stored before the client sees response.completed (so it can go on at once)."""
        exchange: _Exchange = request[_EXCHANGE]
        state = request.app[STATE]
        async with aclosing(events):
            if not self.converts(req):
                tail = bytearray()  # from the read holding response.completed (the last event) to the end
                async for data in events:
                    if tail or b"response.completed" in data:
                        tail += data
                    else:
                        yield data
                exchange.final = _completed(bytes(tail))
                await _store(state, exchange)
                if tail:
                    yield bytes(tail)
                return
            translator = wire.EventsFromChat(exchange.body, exchange.id, req.origin_model)
            async for data in events:
                said = b"".join(translator.chunk(chunk) for chunk in chat_chunks(data))
                if said:
                    yield said
            last = translator.end(req.usage)
            exchange.final = translator.final
            await _store(state, exchange)
            yield last


def _completed(data: bytes) -> dict[str, Any] | None:
    """The Response in a ``response.completed`` event among these stream bytes."""
    for chunk in chat_chunks(data):
        response = chunk.get("response")
        if chunk.get("type") == "response.completed" and isinstance(response, dict):
            return response
    return None


async def _store(state: Any, exchange: _Exchange) -> None:
    """Keep the answer; a database failure costs the client only the stored copy, never the answer it paid for."""
    if exchange.stored and exchange.final is not None and exchange.final.get("id"):
        try:
            await stored_responses.save(state, exchange.token_id, exchange.final,
                                        exchange.items + list(exchange.final.get("output") or ()))
        except PeeweeException as exc:
            logger.error("response %s could not be stored: %s", exchange.final["id"], exc)


RESPONSES = ResponsesDoor()


async def create(request: web.Request) -> web.StreamResponse:
    answer = await relay(request, RelayMode.CHAT, RESPONSES)
    exchange: _Exchange | None = request.get(_EXCHANGE)
    if exchange is not None and isinstance(answer, web.Response):
        await _store(request.app[STATE], exchange)
    return answer


def _not_found(response_id: str) -> RelayError:
    return RelayError(f"Response with id '{response_id}' not found.", status=404, type="invalid_request_error")


async def retrieve(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    found = await stored_responses.load(state, caller.token.id, request.match_info["id"])
    if found is None:
        raise _not_found(request.match_info["id"])
    return json_response(found[0])


async def delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    caller = await authenticate_token(request, state)
    response_id = request.match_info["id"]
    if not await stored_responses.delete(state, caller.token.id, response_id):
        raise _not_found(response_id)
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", create)
    app.router.add_get("/v1/responses/{id}", retrieve)
    app.router.add_delete("/v1/responses/{id}", delete)
