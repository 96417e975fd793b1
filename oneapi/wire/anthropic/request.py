"""Requests both ways: a chat request as a Messages request (egress, a Claude channel) and a Messages request as
chat (ingress, the /v1/messages front door).

Unlike One API the egress hoists every system message, forwards ``stop`` and merges consecutive turns of one
role (the Messages API wants user and assistant to alternate; several OpenAI ``tool`` messages in a row are one
user turn of ``tool_result`` blocks). Extended thinking is asked for with ``thinking`` or ``reasoning_effort``.
"""

from __future__ import annotations

from typing import Any

import orjson

from oneapi.adaptors.shaping import (
    REASONING_BUDGETS,
    add_turn,
    conversion_error,
    parse_data_url,
    reasoning_budget,
    tool_arguments,
    tools_form,
)
from oneapi.wire.anthropic.errors import invalid
from oneapi.wire.anthropic.structured import RESPONSE_TOOL, response_tool
from oneapi.wire.openai_chat import new_id

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_LEGACY_MODELS = {"claude-instant-1": "claude-instant-1.1", "claude-2": "claude-2.1"}


# -- egress: a chat request as a Messages request --------------------------------------------------
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
    structured_tool = response_tool(body.get("response_format"))
    if structured_tool is not None:
        request["tools"] = [*request.get("tools", ()), structured_tool]
        if not tools and not thinking:  # Claude refuses forced tool use while thinking
            request["tool_choice"] = {"type": "tool", "name": RESPONSE_TOOL}
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


# -- ingress: a Messages request as chat -----------------------------------------------------------
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
