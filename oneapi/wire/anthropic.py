"""Anthropic's Messages API <-> OpenAI chat, both directions, streams included.

Egress (a Claude channel): ``messages_request`` turns a chat request into a Messages request, and
``chat_completion_of`` / ``ChatFromEvents`` turn Claude's answer and events back into chat. Ingress (the
/v1/messages front door): ``chat_request`` reads a Messages request as chat, and ``message_of`` /
``EventsFromChat`` say a chat answer and its chunks as a Message and Anthropic's event sequence. Both
directions read the same tables (stop reasons, tool choice, error types).

Unlike One API the egress hoists every system message, forwards ``stop``, streams tool calls with their
``index``, keeps ``finish_reason`` null until the last chunk, and merges consecutive turns of one role (the
Messages API wants user and assistant to alternate; several OpenAI ``tool`` messages in a row are one user
turn of ``tool_result`` blocks). Extended thinking is asked for with ``thinking`` or ``reasoning_effort`` and
its text comes back as DeepSeek's ``reasoning_content``. Structured output (``response_format`` json_object /
json_schema) is asked for as LiteLLM and new-api do: one more tool whose input schema is the response schema,
forced unless the client offered tools of its own or thinking is on, and its input comes back as the content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.shaping import (
    REASONING_BUDGETS,
    add_turn,
    conversion_error,
    parse_data_url,
    reasoning_budget,
    tool_arguments,
    tools_form,
)
from oneapi.adaptors.upstream_errors import try_json
from oneapi.adaptors.usage import Usage
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, named_event, new_id

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
RESPONSE_TOOL = "json_response"  # the tool that carries a structured answer
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
def messages_request(body: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
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
    response_tool = _response_tool(body.get("response_format"))
    if response_tool is not None:
        request["tools"] = [*request.get("tools", ()), response_tool]
        if not tools and not thinking:  # Claude refuses forced tool use while thinking
            request["tool_choice"] = {"type": "tool", "name": RESPONSE_TOOL}
    return request


def wants_structured_output(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def _response_tool(response_format: Any) -> dict[str, Any] | None:
    """The tool Claude answers a structured-output request with; None when plain text is asked for."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"name": RESPONSE_TOOL, "description": "Respond with the answer as a JSON object.",
                "input_schema": {"type": "object"}}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict) or schema.get("type", "object") != "object":
            raise conversion_error("response_format.json_schema.schema must be a JSON schema of an object for "
                                   "Anthropic")
        description = spec.get("description") or f"Respond with the answer as a {spec.get('name') or 'JSON'} object."
        return {"name": RESPONSE_TOOL, "description": description, "input_schema": schema}
    raise conversion_error('response_format.type must be "text", "json_object" or "json_schema"')


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
        converted: dict[str, Any] = {"type": "tool", "name": name} if name else {"type": "auto"}
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


def record_usage(req: RelayRequest, usage: dict[str, Any]) -> None:
    """Claude's usage on the request, the prompt cache's reads and writes counted apart (they have own prices)."""
    req.report_usage(prompt_tokens(usage), usage.get("output_tokens"))
    req.usage.cache_read_tokens = int(usage.get("cache_read_input_tokens") or 0)
    req.usage.cache_write_tokens = int(usage.get("cache_creation_input_tokens") or 0)


def claude_error(error: dict[str, Any], status: int | None = None) -> RelayError:
    """Claude's ``{type, message}`` as our error, type kept as code; 529 (not a standard status) goes out as 503."""
    kind = str(error.get("type") or "api_error")
    status = status or _ERROR_STATUS.get(kind, 500)
    return upstream_error(503 if status == 529 else status, str(error.get("message") or kind), kind, kind)


@dataclass
class ChatFromEvents:
    """Claude's stream events as chat chunks; keeps what the stream has told so far (id, tool blocks, usage)."""

    id: str = field(default_factory=new_id)
    tool_index: dict[int, int] = field(default_factory=dict)  # content block index -> tool_calls index
    tool_has_arguments: dict[int, bool] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    structured: bool = False  # the request asked for structured output, answered by RESPONSE_TOOL
    response_blocks: dict[int, bool] = field(default_factory=dict)  # RESPONSE_TOOL's block -> any JSON sent

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
            if block in self.response_blocks and not self.response_blocks[block]:
                return [self._text_delta(req, "content", "{}")]
            return []
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            record_usage(req, self.usage)
            reason = finish_reason((event.get("delta") or {}).get("stop_reason")) or "stop"
            if reason == "tool_calls" and not self.tool_index:  # only the structured answer's tool was used
                reason = "stop"
            return [chat_chunk(req, self.id, {}, reason)]
        if kind == "error":
            raise claude_error(event.get("error") or {})
        return []  # ping, message_stop and event types added later

    def _block_start(self, req: RelayRequest, block: int, content: dict[str, Any]) -> list[dict[str, Any]]:
        if content.get("type") == "tool_use" and self.structured and content.get("name") == RESPONSE_TOOL:
            self.response_blocks[block] = bool(content.get("input"))
            return [self._text_delta(req, "content", orjson.dumps(content["input"]).decode())
                    ] if content.get("input") else []
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
        if delta.get("type") == "input_json_delta" and block in self.response_blocks and delta.get("partial_json"):
            self.response_blocks[block] = True
            return [self._text_delta(req, "content", delta["partial_json"])]
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



def chat_completion_of(req: RelayRequest, data: dict[str, Any]) -> dict[str, Any]:
    """A Claude Message as a ``chat.completion``, its usage recorded on the request."""
    record_usage(req, data.get("usage") or {})
    texts: list[str] = []
    thoughts: list[str] = []
    tool_calls = []
    structured = wants_structured_output(req.body)
    for block in data.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "thinking":
            thoughts.append(block.get("thinking") or "")
        elif block.get("type") == "tool_use" and structured and block.get("name") == RESPONSE_TOOL:
            texts.append(orjson.dumps(block.get("input") or {}).decode())
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
    reason = finish_reason(data.get("stop_reason")) or "stop"
    return chat_completion(req, completion_id, message, "stop" if reason == "tool_calls" and not tool_calls
                           else reason)


def error_of(data: Any, status: int | None = None) -> RelayError | None:
    """Claude's ``{"type": "error", "error": {type, message}}`` (or just its ``error``) as our error."""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("type"):
        return claude_error(error, status)
    return None


# -- ingress: a Messages request as chat ---------------------------------------------------------------
# chat's finish_reason -> Claude's stop_reason: the first Claude reason of each chat one (end_turn for stop).
_FINISH_REASONS = {chat: claude for claude, chat in reversed(_STOP_REASONS.items())}
_ERROR_TYPES = {status: kind for kind, status in reversed(_ERROR_STATUS.items())}


def invalid(message: str) -> RelayError:
    """A Messages request Anthropic itself would refuse: 400 ``invalid_request_error``."""
    return RelayError(message, status=400, type="invalid_request_error", code="invalid_request_error")


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages request as the chat request a non-Claude channel gets (checked as Anthropic checks it)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise invalid("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: Field required")
    chat: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        chat.append({"role": "system", "content": system})
    for i, message in enumerate(messages):
        chat.extend(_chat_messages(message, i))
    request: dict[str, Any] = {"model": body["model"], "messages": chat, "max_tokens": max_tokens}
    for name in ("temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("stop_sequences"):
        request["stop"] = list(body["stop_sequences"])
    if body.get("stream") is True:
        request["stream"] = True
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if isinstance(user, str) and user:
        request["user"] = user
    if body.get("tools"):
        request["tools"] = [_chat_tool(tool, i) for i, tool in enumerate(body["tools"])]
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            request.update(_chat_tool_choice(choice))
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        request["reasoning_effort"] = effort_of(thinking.get("budget_tokens"))
    return request


def effort_of(budget: Any) -> str:
    """The ``reasoning_effort`` whose thinking budget (in the shared table) is the largest within ``budget``."""
    budget = budget if isinstance(budget, int) else 0
    efforts = [(tokens, effort) for effort, tokens in REASONING_BUDGETS.items() if 0 < tokens <= budget]
    return max(efforts)[1] if efforts else "low"


def _system_text(system: Any) -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or list of text blocks")
    return "\n\n".join(str(block.get("text") or "") for block in system
                       if isinstance(block, dict) and block.get("type") == "text")


def _chat_messages(message: Any, index: int) -> list[dict[str, Any]]:
    """One Messages turn as chat messages: a user turn's tool_result blocks are ``tool`` messages (first, as
    they answer the previous assistant turn), an assistant turn's tool_use blocks its ``tool_calls``."""
    role = message.get("role") if isinstance(message, dict) else None
    if role not in ("user", "assistant"):
        raise invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise invalid(f"messages.{index}.content: Input should be a valid string or list of content blocks")
    parts: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.get("source"), index, j)}})
        elif kind == "tool_use" and role == "assistant":
            calls.append({"id": block.get("id") or new_id("toolu_"), "type": "function",
                          "function": {"name": block.get("name"),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif kind == "tool_result" and role == "user":
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id") or "",
                            "content": _result_text(block)})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # a signed thought only Claude can read back
        else:
            raise invalid(f"messages.{index}.content.{j}.type: {kind!r} is not supported here")
    converted: list[dict[str, Any]] = list(results)
    if role == "assistant":
        text = "".join(part["text"] for part in parts)
        said: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            said["tool_calls"] = calls
        if text or calls:
            converted.append(said)
    elif parts:
        converted.append({"role": "user", "content": parts})
    return converted


def _image_url(source: Any, index: int, block: int) -> str:
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        return f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data') or ''}"
    url = source.get("url")
    if source.get("type") == "url" and isinstance(url, str):
        return url
    raise invalid(f"messages.{index}.content.{block}.source: a base64 or url image source is required")


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        content = "\n".join(str(part.get("text") or "") for part in content
                            if isinstance(part, dict) and part.get("type") == "text")
    text = content if isinstance(content, str) else ""
    return f"Error: {text}" if block.get("is_error") else text


def _chat_tool(tool: Any, index: int) -> dict[str, Any]:
    if not isinstance(tool, dict) or not tool.get("name"):
        raise invalid(f"tools.{index}.name: Field required")
    function: dict[str, Any] = {"name": tool["name"],
                                "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    converted: dict[str, Any] = {}
    if kind == "tool":
        converted["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind == "any":
        converted["tool_choice"] = "required"
    elif kind in ("auto", "none"):
        converted["tool_choice"] = kind
    else:
        raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if choice.get("disable_parallel_tool_use") is True:
        converted["parallel_tool_calls"] = False
    return converted


# -- ingress: a chat answer as a Message ---------------------------------------------------------------
def stop_reason(finish: Any) -> str:
    return _FINISH_REASONS.get(finish, "end_turn") if finish else "end_turn"


def message_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    return "msg_" + (text.removeprefix("chatcmpl-") or new_id(""))


def message_of(answer: dict[str, Any], model: str, usage: dict[str, int]) -> dict[str, Any]:
    """A ``chat.completion`` said as Anthropic's Message."""
    choice = (answer.get("choices") or [{}])[0]
    said = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if said.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": said["reasoning_content"], "signature": ""})
    if said.get("content"):
        content.append({"type": "text", "text": said["content"]})
    for call in said.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = try_json(function.get("arguments") or "{}")
        content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu_"), "name": function.get("name"),
                        "input": arguments if isinstance(arguments, dict) else {}})
    return {"id": message_id(answer.get("id")), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason(choice.get("finish_reason")), "stop_sequence": None,
            "usage": usage}


def usage_of(usage: Any) -> dict[str, int]:
    """Chat usage as Anthropic's."""
    usage = usage if isinstance(usage, dict) else {}
    return {"input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0)}


@dataclass
class EventsFromChat:
    """Chat chunks said as Anthropic's event sequence: message_start, ping, one content block per thought,
    text run or tool call (with thinking_delta / text_delta / input_json_delta), message_delta, message_stop."""

    model: str
    input_tokens: int
    id: str = ""
    block: int = -1  # index of the open content block, -1 before the first
    open_kind: str = ""  # "thinking", "text" or "tool:<chat index>"
    finish: str | None = None

    def start(self, chat_id: Any) -> bytes:
        self.id = message_id(chat_id)
        message: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                                   "content": [], "stop_reason": None, "stop_sequence": None,
                                   "usage": {"input_tokens": self.input_tokens, "output_tokens": 0}}
        return named_event({"type": "message_start", "message": message}) + named_event({"type": "ping"})

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self.id else self.start(chunk.get("id"))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                out += self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                out += self._delta({"type": "thinking_delta", "thinking": delta["reasoning_content"]})
            if delta.get("content"):
                out += self._open("text", {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                kind = f"tool:{call.get('index', 0)}"
                if kind != self.open_kind:
                    out += self._open(kind, {"type": "tool_use", "id": call.get("id") or new_id("toolu_"),
                                             "name": function.get("name") or "", "input": {}})
                if function.get("arguments"):
                    out += self._delta({"type": "input_json_delta", "partial_json": function["arguments"]})
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def end(self, usage: Usage) -> bytes:
        """The closing events, with the final usage (input tokens too: the start only had an estimate)."""
        out = (b"" if self.id else self.start(None)) + self._close()
        delta = {"stop_reason": stop_reason(self.finish), "stop_sequence": None}
        out += named_event({"type": "message_delta", "delta": delta, "usage": usage_of(usage.as_openai())})
        return out + named_event({"type": "message_stop"})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        if kind == self.open_kind:
            return b""
        out = self._close()
        self.block += 1
        self.open_kind = kind
        return out + named_event({"type": "content_block_start", "index": self.block, "content_block": block})

    def _close(self) -> bytes:
        if not self.open_kind:
            return b""
        self.open_kind = ""
        return named_event({"type": "content_block_stop", "index": self.block})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return named_event({"type": "content_block_delta", "index": self.block, "delta": delta})


def error_body(error: RelayError) -> dict[str, Any]:
    """Our error in Anthropic's shape; the type follows the status as Anthropic's does."""
    kind = _ERROR_TYPES.get(error.status) or (error.type if error.type in _ERROR_STATUS else None)
    if kind is None:
        kind = "api_error" if error.status >= 500 else "invalid_request_error"
    return {"type": "error", "error": {"type": kind, "message": error.message}}
