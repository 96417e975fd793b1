"""Cohere's v1 Chat API (SPEC §4.13): ``POST <base>/v1/chat``, streamed as one JSON event per line.

The OpenAI conversation is split the way v1 wants it: the last user turn is ``message`` and everything before
it is ``chat_history`` (USER / CHATBOT / SYSTEM / TOOL). Tool calls round-trip: OpenAI tools become v1
``parameter_definitions``, Cohere's ``tool_calls`` come back as OpenAI tool calls, and tool messages that
answer them go out as ``tool_results``. A ``-internet`` model suffix adds the web-search connector.
Usage is what Cohere reports in ``meta.tokens`` (``meta.billed_units`` when tokens are absent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from oneapi.adaptors.base import HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.shaping import conversion_error, message_text, tool_arguments
from oneapi.adaptors.streams import iter_lines
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import try_json
from oneapi.constants import RelayMode
from oneapi.wire.openai_chat import chat_chunk, chat_completion, new_id

SEARCH_SUFFIX = "-internet"
WEB_SEARCH_CONNECTOR = {"id": "web-search"}

_ROLES = {"user": "USER", "assistant": "CHATBOT", "system": "SYSTEM"}
_PARAMETERS = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "p", "top_k": "k",
               "seed": "seed", "frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty"}
_FINISH_REASONS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
                   "ERROR_TOXIC": "content_filter"}
_JSON_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "array": "list",
               "object": "dict"}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool -> a v1 tool: JSON-schema properties become ``parameter_definitions``."""
    function: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else {}
    schema: dict[str, Any] = function["parameters"] if isinstance(function.get("parameters"), dict) else {}
    required = set(schema.get("required") or ())
    definitions = {}
    for name, spec in (schema.get("properties") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        definition: dict[str, Any] = {"type": _JSON_TYPES.get(str(spec.get("type")), str(spec.get("type") or "str")),
                                      "required": name in required}
        if spec.get("description"):
            definition["description"] = spec["description"]
        definitions[name] = definition
    return {"name": function.get("name") or "", "description": function.get("description") or "",
            "parameter_definitions": definitions}


def _tool_outputs(content: Any) -> list[dict[str, Any]]:
    """A tool message's content as the list of objects v1 wants in ``outputs``."""
    text = message_text(content)
    parsed = try_json(text)
    if isinstance(parsed, dict):
        return [parsed]
    if isinstance(parsed, list) and parsed and all(isinstance(item, dict) for item in parsed):
        return parsed
    return [{"result": text}]


class _Conversation:
    """Turns OpenAI messages into v1's ``message``, ``chat_history`` and ``tool_results``."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.calls: dict[str, dict[str, Any]] = {}  # OpenAI tool call id -> v1 call {name, parameters}
        tail = len(messages)
        while tail and messages[tail - 1].get("role") == "tool":
            tail -= 1
        last = messages[tail - 1] if tail else {}
        if tail == len(messages):  # an ordinary turn: the last message is the user's
            if last.get("role") != "user":
                raise conversion_error("the last message must come from the user (or be tool results)")
            self.history = [self._entry(m) for m in messages[:-1]]
            self.message = message_text(last.get("content"))
            self.tool_results: list[dict[str, Any]] = []
        else:  # tool results answering the assistant's calls
            self.history = [self._entry(m) for m in messages[:tail]]
            self.message = ""
            self.tool_results = [self._result(m) for m in messages[tail:]]

    def _entry(self, message: dict[str, Any]) -> dict[str, Any]:
        role = message.get("role")
        if role == "tool":
            return {"role": "TOOL", "tool_results": [self._result(message)]}
        entry: dict[str, Any] = {"role": _ROLES.get(str(role), "USER"), "message": message_text(message.get("content"))}
        if role == "assistant" and message.get("tool_calls"):
            entry["tool_calls"] = [self._call(call) for call in message["tool_calls"]]
        return entry

    def _call(self, call: dict[str, Any]) -> dict[str, Any]:
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        converted = {"name": function.get("name") or "",
                     "parameters": tool_arguments(function.get("arguments"), "assistant tool call")}
        self.calls[str(call.get("id"))] = converted
        return converted

    def _result(self, message: dict[str, Any]) -> dict[str, Any]:
        call = self.calls.get(str(message.get("tool_call_id")))
        if call is None:
            raise conversion_error("a tool message must answer a tool call of an earlier assistant message")
        return {"call": call, "outputs": _tool_outputs(message.get("content"))}


def _chat_body(req: RelayRequest) -> dict[str, Any]:
    body = req.body
    model = req.model
    conversation = _Conversation(body["messages"])
    out: dict[str, Any] = {"model": model, "message": conversation.message, "stream": req.stream}
    if model.endswith(SEARCH_SUFFIX):
        out["model"] = model[: -len(SEARCH_SUFFIX)]
        out["connectors"] = [WEB_SEARCH_CONNECTOR]
    if conversation.history:
        out["chat_history"] = conversation.history
    if conversation.tool_results:
        out["tool_results"] = conversation.tool_results
    if body.get("tools"):
        out["tools"] = [_tool(tool) for tool in body["tools"] if isinstance(tool, dict)]
    for source, target in _PARAMETERS.items():
        if body.get(source) is not None:
            out[target] = body[source]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    return out


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    """v1 calls carry no id; each gets one so that the client can answer it with a tool message."""
    return [{"index": i, "id": new_id("call_"), "type": "function",
             "function": {"name": call.get("name") or "",
                          "arguments": orjson.dumps(call.get("parameters") or {}).decode()}}
            for i, call in enumerate(calls or ()) if isinstance(call, dict)]


async def _event_lines(resp: Answer) -> AsyncIterator[bytes]:
    """Cohere streams one JSON event per line (an SSE ``data:`` prefix is tolerated)."""
    async for line in iter_lines(resp):
        line = line.removeprefix(b"data:").strip()
        if line:
            yield line


def _record_usage(req: RelayRequest, response: dict[str, Any]) -> None:
    meta = response.get("meta") or {}
    counts = meta.get("tokens") or meta.get("billed_units")
    if isinstance(counts, dict):
        req.report_usage(counts.get("input_tokens"), counts.get("output_tokens"))


class CohereAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT})

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        headers = {"Authorization": f"Bearer {req.upstream.key}", "Content-Type": "application/json",
                   "Accept": "application/json"}
        return UpstreamRequest(f"{req.upstream.base_url}/v1/chat", headers, orjson.dumps(_chat_body(req)))

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        _record_usage(req, data)
        message: dict[str, Any] = {"role": "assistant", "content": str(data.get("text") or "")}
        finish = _FINISH_REASONS.get(str(data.get("finish_reason")), "stop")
        if data.get("tool_calls"):
            message["tool_calls"] = _tool_calls(data["tool_calls"])
            finish = "tool_calls"
        return chat_completion(req, str(data.get("response_id") or data.get("generation_id") or new_id()),
                               message, finish)

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        chunk_id = new_id()
        called = False
        async for event in self.json_events(resp, "Cohere stream event", _event_lines):
            kind = event.get("event_type")
            if kind == "stream-start":
                chunk_id = str(event.get("generation_id") or chunk_id)
                yield chat_chunk(req, chunk_id, {"role": "assistant", "content": ""})
            elif kind == "text-generation":
                text = str(event.get("text") or "")
                req.completion_text.append(text)
                yield chat_chunk(req, chunk_id, {"content": text})
            elif kind == "tool-calls-generation" and event.get("tool_calls"):
                called = True
                yield chat_chunk(req, chunk_id, {"tool_calls": _tool_calls(event["tool_calls"])})
            elif kind == "stream-end":
                _record_usage(req, event.get("response") or {})
                finish = "tool_calls" if called else _FINISH_REASONS.get(str(event.get("finish_reason")), "stop")
                yield chat_chunk(req, chunk_id, {}, finish)


ADAPTOR = CohereAdaptor()
