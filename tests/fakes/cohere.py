"""A fake Cohere v1 Chat API (``POST /v1/chat``), written from Cohere's v1 API reference.

Auth is ``Authorization: Bearer <key>`` (401 ``invalid api token`` otherwise). The fake checks the v1 request
shape (message or tool_results, chat_history roles, tool definitions and tool results naming a known tool),
answers with text or ``tool_calls``, and streams v1 events one JSON object per line (``stream-start``,
``text-generation``, ``tool-calls-generation``, ``stream-end`` with the whole response). ``meta.tokens`` carries
the counts the fake was given; ``meta.billed_units`` is smaller, as Cohere does not bill its own prompt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal

_ROLES = {"USER", "CHATBOT", "SYSTEM", "TOOL"}
_TYPES = {"str", "int", "float", "bool", "list", "dict"}


def _error(status: int, message: str) -> Refusal:
    return Refusal(web.json_response({"message": message}, status=status))


@dataclass
class FakeCohere(FakeServer):
    key: str = "co-key"
    models: tuple[str, ...] = ("command-r", "command-r-plus")
    reply: str = "Hello from Cohere"
    usage: tuple[int, int] = (21, 9)  # meta.tokens (input, output)
    chunks: int = 3

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat", self.chat)]

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            raise _error(401, "invalid api token")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _error(400, "invalid request: could not parse the request body") from None
        self.requests.append(body)
        if self.failures:
            raise _error(*self.failures.pop(0))  # (HTTP status, message)
        problem = self._invalid(body)
        if problem:
            raise _error(400, f"invalid request: {problem}")
        response = self._response(body)
        if not body.get("stream"):
            return web.json_response(response)
        stream = web.StreamResponse(headers={"Content-Type": "application/stream+json"})
        await stream.prepare(request)
        await _line(stream, {"is_finished": False, "event_type": "stream-start",
                             "generation_id": response["generation_id"]})
        text = response["text"]
        size = max(1, -(-len(text) // self.chunks))
        for start in range(0, len(text), size):
            await _line(stream, {"is_finished": False, "event_type": "text-generation",
                                 "text": text[start : start + size]})
        if response.get("tool_calls"):
            await _line(stream, {"is_finished": False, "event_type": "tool-calls-generation", "text": text,
                                 "tool_calls": response["tool_calls"]})
        await _line(stream, {"is_finished": True, "event_type": "stream-end", "finish_reason": "COMPLETE",
                             "response": response})
        return stream

    def _invalid(self, body: dict[str, Any]) -> str:
        if body.get("model") not in self.models:
            return f"model '{body.get('model')}' not found"
        if not isinstance(body.get("message"), str):
            return "message is required"
        if not body["message"] and not body.get("tool_results"):
            return "message must be at least 1 token long or tool results must be specified."
        for entry in body.get("chat_history") or ():
            if entry.get("role") not in _ROLES:
                return f"invalid chat_history role {entry.get('role')!r}"
            if entry["role"] != "TOOL" and not isinstance(entry.get("message"), str):
                return "chat_history messages need a message"
        tools = {}
        for tool in body.get("tools") or ():
            definitions = tool.get("parameter_definitions") or {}
            if not tool.get("name") or any(d.get("type") not in _TYPES for d in definitions.values()):
                return "tools need a name and parameter_definitions with valid types"
            tools[tool["name"]] = tool
        for result in body.get("tool_results") or ():
            if result.get("call", {}).get("name") not in tools:
                return "tool_results must name a tool given in tools"
            if not isinstance(result.get("outputs"), list) or not all(isinstance(o, dict) for o in result["outputs"]):
                return "tool_results outputs must be a list of objects"
        return ""

    def _response(self, body: dict[str, Any]) -> dict[str, Any]:
        tool_calls = None
        if body.get("tool_results"):
            text = "The tool said: " + orjson.dumps(body["tool_results"][0]["outputs"]).decode()
        elif body.get("tools"):
            text = "I will look that up."
            tool_calls = [{"name": body["tools"][0]["name"], "parameters": {"location": "Toronto"}}]
        else:
            text = self.reply
        prompt, completion = self.usage
        response: dict[str, Any] = {
            "response_id": str(uuid.uuid4()), "text": text, "generation_id": str(uuid.uuid4()),
            "chat_history": [*body.get("chat_history", []), {"role": "USER", "message": body["message"]},
                             {"role": "CHATBOT", "message": text}],
            "finish_reason": "COMPLETE",
            "meta": {"api_version": {"version": "1"},
                     "billed_units": {"input_tokens": prompt - 10, "output_tokens": completion},
                     "tokens": {"input_tokens": prompt, "output_tokens": completion}}}
        if tool_calls:
            response["tool_calls"] = tool_calls
        return response


async def _line(stream: web.StreamResponse, event: dict[str, Any]) -> None:
    await stream.write(orjson.dumps(event) + b"\n")
