"""Front doors: the wire formats clients may speak to the relay, each a codec around the one pipeline.

A door reads the client's request as the pipeline's (OpenAI chat, plus the client's own body for channels
that speak its format natively), and says the answer, the stream and the errors the way its clients expect.
``FrontDoor`` itself is the OpenAI API, where there is nothing to convert.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from oneapi.adaptors.base import Completion, RelayRequest
from oneapi.adaptors.native import json_payloads
from oneapi.adaptors.registry import adaptor_for
from oneapi.constants import RelayMode
from oneapi.errors import RelayError
from oneapi.relay.auth import Caller
from oneapi.relay.request import Parsed, parse_request

DONE = b"data: [DONE]\n\n"
CHAT_PATH = "/v1/chat/completions"


class Outgoing(NamedTuple):
    """The request as a channel gets it."""

    mode: RelayMode
    body: dict[str, Any]
    raw: bytes | None  # the client's exact bytes, when they can go as they are
    path: str
    query: str


def chat_chunks(data: bytes) -> list[dict[str, Any]]:
    """The chunks in one piece of an SSE stream (an adaptor's output is whole events)."""
    return json_payloads(data.split(b"\n"))


class FrontDoor:
    """The OpenAI API: the client's body is the pipeline's request and the answer goes back as it is."""

    name = ""  # how the consume log names the door; empty for the OpenAI API
    native_mode: RelayMode | None = None  # the mode of channels that take the door's format as it is
    done = DONE  # what ends a stream

    def credential(self, request: web.Request) -> str:
        return request.headers.get("Authorization", "")

    async def parse(self, request: web.Request, mode: RelayMode, caller: Caller) -> Parsed:
        return await parse_request(request, mode)

    def speaks(self, channel_type: int) -> bool:
        """True for channels that take the door's own format as it is."""
        return self.native_mode is not None and adaptor_for(channel_type).supports(self.native_mode)

    def outgoing(self, request: web.Request, parsed: Parsed, channel_type: int) -> Outgoing:
        """What a channel of this type is sent: the door's own request if it speaks the format, else chat."""
        if self.native_mode is None:
            return Outgoing(parsed.mode, parsed.body, parsed.raw, request.path, request.query_string)
        if parsed.native is not None and self.speaks(channel_type):
            return Outgoing(self.native_mode, parsed.native, parsed.raw, request.path, request.query_string)
        return Outgoing(RelayMode.CHAT, parsed.body, None, CHAT_PATH, "")

    def converts(self, req: RelayRequest) -> bool:
        """True when the request went to its channel as chat, so the answer must be said in the door's format."""
        return self.native_mode is not None and req.mode == RelayMode.CHAT

    def answer(self, request: web.Request, req: RelayRequest, completion: Completion) -> Completion:
        """The answer as the client gets it: a chat answer said in the door's format."""
        if not self.converts(req):
            return completion
        answer = self.from_chat(req, orjson.loads(completion.body))
        return Completion(orjson.dumps(answer), completion.status, {"Content-Type": "application/json"})

    def from_chat(self, req: RelayRequest, answer: dict[str, Any]) -> dict[str, Any]:
        return answer

    async def stream(self, request: web.Request, req: RelayRequest,
                     events: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
        """The stream as the client gets it: a chat stream said in the door's format."""
        async with aclosing(events):
            if not self.converts(req):
                async for data in events:
                    yield data
                return
            translator = self.translator(req)
            async for data in events:
                said = b"".join(translator.chunk(chunk) for chunk in chat_chunks(data))
                if said:
                    yield said
            yield translator.end(req.usage)

    def translator(self, req: RelayRequest) -> Any:
        """What turns chat chunks into the door's events: ``chunk(dict) -> bytes`` and ``end(usage) -> bytes``."""
        raise NotImplementedError

    def error_body(self, error: RelayError, request_id: str) -> dict[str, Any]:
        return error.to_dict(request_id)

    def stream_error(self, error: RelayError, request_id: str) -> bytes:
        """An error after the stream began, as the door's clients read one."""
        return b"data: " + orjson.dumps(self.error_body(error, request_id)) + b"\n\n" + self.done

    def error_response(self, error: RelayError, request_id: str) -> web.Response:
        return web.Response(status=error.status, body=orjson.dumps(self.error_body(error, request_id)),
                            content_type="application/json")


OPENAI = FrontDoor()
