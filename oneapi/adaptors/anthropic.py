"""Anthropic Claude (SPEC §4.4): OpenAI chat <-> the Messages API, both ways, streams included.

Unlike One API this adaptor hoists every system message, forwards ``stop``, streams tool calls with
their ``index``, keeps ``finish_reason`` null until the last chunk, and merges consecutive turns of
one role (the Messages API wants user and assistant to alternate; several OpenAI ``tool`` messages in
a row are one user turn of ``tool_result`` blocks). Legacy ``functions`` are taken as tools; extended
thinking is asked for with ``thinking`` or ``reasoning_effort`` and its text comes back as DeepSeek's
``reasoning_content``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from oneapi.adaptors.base import (
    HttpAdaptor,
    RelayRequest,
    UpstreamRequest,
    add_turn,
    chat_chunk,
    chat_completion,
    conversion_error,
    generic_error,
    iter_sse_data,
    new_id,
    parse_data_url,
    parse_json,
    reasoning_budget,
    tool_arguments,
    tools_form,
    try_json,
)
from oneapi.errors import RelayError, upstream_error

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_LEGACY_MODELS = {"claude-instant-1": "claude-instant-1.1", "claude-2": "claude-2.1"}
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
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


# -- request ---------------------------------------------------------------------------------------
def convert_request(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    body = tools_form(body)
    system, turns = _convert_messages(body["messages"])
    thinking = _thinking(body)
    budget = thinking.get("budget_tokens") if thinking and thinking.get("type") == "enabled" else None
    # Thinking is spent out of max_tokens: without a client limit the answer keeps the usual room on top.
    default_max_tokens = DEFAULT_MAX_TOKENS + (budget if isinstance(budget, int) else 0)
    request: dict[str, Any] = {
        "model": _LEGACY_MODELS.get(model, model),
        "messages": turns,
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens") or default_max_tokens,
    }
    if thinking:
        request["thinking"] = thinking
    if system:
        request["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if stream:
        request["stream"] = True
    if isinstance(body.get("user"), str) and body["user"]:
        request["metadata"] = {"user_id": body["user"]}
    tools = body.get("tools")
    if tools:
        request["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            request["tool_choice"] = choice
    return request


def _thinking(body: dict[str, Any]) -> dict[str, Any] | None:
    """Claude's ``thinking`` from the client's own ``thinking`` (passed as is, Claude checks it) or else from
    ``reasoning_effort``; None when neither asks for it."""
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise conversion_error('thinking must be an object such as {"type": "enabled", "budget_tokens": 2048}')
        return thinking
    budget = reasoning_budget(body)
    return {"type": "enabled", "budget_tokens": budget} if budget else None


def _convert_messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, alternating user/assistant turns of content blocks)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(block["text"] for block in _content_blocks(content, i) if block["type"] == "text")
            continue
        if role == "user":
            blocks = _content_blocks(content, i)
        elif role == "assistant":
            blocks = _content_blocks(content, i) + _tool_uses(message.get("tool_calls"), i)
        elif role == "tool":
            role = "user"
            result = content if isinstance(content, str) else _content_blocks(content, i)
            blocks = [{"type": "tool_result", "tool_use_id": message.get("tool_call_id") or "", "content": result}]
        else:
            raise conversion_error(f"messages[{i}]: role {role!r} is not supported by Anthropic")
        add_turn(turns, role, "content", blocks)
    return system, turns


def _content_blocks(content: Any, index: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise conversion_error(f"messages[{index}].content must be a string or an array of parts")
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), index))
        else:
            raise conversion_error(f"messages[{index}]: content part type {kind!r} is not supported by Anthropic")
    return blocks


def _image(image_url: Any, index: int) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise conversion_error(f"messages[{index}]: image_url.url is required")
    data_url = parse_data_url(url)
    if data_url is not None:
        media_type, data = data_url
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise conversion_error(f"messages[{index}]: image_url.url must be an http(s) or base64 data URL")


def _tool_uses(tool_calls: Any, index: int) -> list[dict[str, Any]]:
    blocks = []
    for call in tool_calls or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise conversion_error(f"messages[{index}].tool_calls: every call needs function.name")
        arguments = tool_arguments(function.get("arguments"), f"messages[{index}].tool_calls")
        blocks.append({"type": "tool_use", "id": call.get("id") or new_id("toolu_"), "name": function["name"],
                       "input": arguments})
    return blocks


def _tool(tool: Any, index: int) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not function.get("name"):
        raise conversion_error(f"tools[{index}]: only function tools with a name are supported")
    schema = function.get("parameters")
    schema = dict(schema) if isinstance(schema, dict) else {}
    schema.setdefault("type", "object")
    converted = {"name": function["name"], "input_schema": schema}
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        converted = {"type": "tool", "name": name} if name else {"type": "auto"}
    elif choice == "required":
        converted = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif choice in (None, "auto"):
        converted = {"type": "auto"}
    else:
        raise conversion_error(f"tool_choice {choice!r} is not supported")
    if parallel is False:
        converted["disable_parallel_tool_use"] = True
    return converted


# -- response --------------------------------------------------------------------------------------
def finish_reason(stop_reason: Any) -> str | None:
    if not stop_reason:
        return None
    return _STOP_REASONS.get(stop_reason, str(stop_reason))


def prompt_tokens(usage: dict[str, Any]) -> int:
    """Billed input: uncached tokens plus the tokens written to and read from the prompt cache."""
    return sum(int(usage.get(key) or 0) for key in
               ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


def claude_error(error: dict[str, Any], status: int | None = None) -> RelayError:
    """Claude's ``{type, message}`` as our error, type kept as code; 529 (not a standard status) goes out as 503."""
    kind = str(error.get("type") or "api_error")
    status = status or _ERROR_STATUS.get(kind, 500)
    return upstream_error(503 if status == 529 else status, str(error.get("message") or kind), kind, kind)


@dataclass
class _StreamState:
    """What a Claude stream has told so far: the message id, tool blocks by block index, usage."""

    id: str = field(default_factory=new_id)
    tool_index: dict[int, int] = field(default_factory=dict)  # content block index -> tool_calls index
    tool_has_arguments: dict[int, bool] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)

    def handle(self, req: RelayRequest, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            if message.get("id"):
                self.id = f"chatcmpl-{message['id']}"
            self.usage.update(message.get("usage") or {})
            return [chat_chunk(req, self.id, {"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(req, event.get("index", 0), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(req, event.get("index", 0), event.get("delta") or {})
        if kind == "content_block_stop":
            block = event.get("index", 0)
            if block in self.tool_index and not self.tool_has_arguments[block]:
                # A tool called without arguments: clients json-parse the arguments, so send "{}".
                return [self._tool_delta(req, block, {"function": {"arguments": "{}"}})]
            return []
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            req.report_usage(prompt_tokens(self.usage), self.usage.get("output_tokens"))
            reason = finish_reason((event.get("delta") or {}).get("stop_reason")) or "stop"
            return [chat_chunk(req, self.id, {}, reason)]
        if kind == "error":
            raise claude_error(event.get("error") or {})
        return []  # ping, message_stop and event types added later

    def _block_start(self, req: RelayRequest, block: int, content: dict[str, Any]) -> list[dict[str, Any]]:
        if content.get("type") == "tool_use":
            self.tool_index[block] = len(self.tool_index)
            arguments = orjson.dumps(content["input"]).decode() if content.get("input") else ""
            self.tool_has_arguments[block] = bool(arguments)
            call = {"id": content.get("id"), "type": "function",
                    "function": {"name": content.get("name"), "arguments": arguments}}
            return [self._tool_delta(req, block, call)]
        if content.get("type") == "text" and content.get("text"):
            return [self._text_delta(req, "content", content["text"])]
        if content.get("type") == "thinking" and content.get("thinking"):
            return [self._text_delta(req, "reasoning_content", content["thinking"])]
        return []

    def _block_delta(self, req: RelayRequest, block: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        if delta.get("type") == "text_delta":
            return [self._text_delta(req, "content", delta.get("text") or "")]
        if delta.get("type") == "thinking_delta":
            return [self._text_delta(req, "reasoning_content", delta.get("thinking") or "")]
        if delta.get("type") == "input_json_delta" and block in self.tool_index and delta.get("partial_json"):
            self.tool_has_arguments[block] = True
            return [self._tool_delta(req, block, {"function": {"arguments": delta["partial_json"]}})]
        return []

    def _text_delta(self, req: RelayRequest, key: str, text: str) -> dict[str, Any]:
        """Answer text (``content``) or thinking (``reasoning_content``); both count as completion tokens."""
        req.completion_text.append(text)
        return chat_chunk(req, self.id, {key: text})

    def _tool_delta(self, req: RelayRequest, block: int, call: dict[str, Any]) -> dict[str, Any]:
        return chat_chunk(req, self.id, {"tool_calls": [{"index": self.tool_index[block], **call}]})


class AnthropicAdaptor(HttpAdaptor):
    answers_legacy_functions = True

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        headers = {
            "x-api-key": req.upstream.key,
            "anthropic-version": req.client_headers.get("anthropic-version") or API_VERSION,
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if req.stream else "application/json",
        }
        beta = req.client_headers.get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        body = convert_request(req.body, req.model, req.stream)
        return UpstreamRequest(f"{req.upstream.base_url}/v1/messages", headers, orjson.dumps(body))

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        usage = data.get("usage") or {}
        req.report_usage(prompt_tokens(usage), usage.get("output_tokens"))
        texts: list[str] = []
        thoughts: list[str] = []
        tool_calls = []
        for block in data.get("content") or ():
            if block.get("type") == "text":
                texts.append(block.get("text") or "")
            elif block.get("type") == "thinking":
                thoughts.append(block.get("thinking") or "")
            elif block.get("type") == "tool_use":
                tool_calls.append({"id": block.get("id"), "type": "function",
                                   "function": {"name": block.get("name"),
                                                "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        if tool_calls:
            message["tool_calls"] = tool_calls
        completion_id = f"chatcmpl-{data['id']}" if data.get("id") else new_id()
        return chat_completion(req, completion_id, message, finish_reason(data.get("stop_reason")) or "stop")

    async def convert_stream(self, req: RelayRequest, resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        state = _StreamState()
        async for payload in iter_sse_data(resp):
            event = parse_json(payload, "Anthropic stream event")
            if isinstance(event, dict):
                for chunk in state.handle(req, event):
                    yield chunk

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        data = try_json(raw)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("type"):
            return claude_error(error, status)
        return generic_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        if not isinstance(data, dict):
            return upstream_error(502, "the upstream answer is not a JSON object")
        if data.get("type") == "error" and isinstance(data.get("error"), dict):
            return claude_error(data["error"])
        return None


ADAPTOR = AnthropicAdaptor()
