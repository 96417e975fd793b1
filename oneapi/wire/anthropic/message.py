"""Answers both ways: a Claude Message as a ``chat.completion`` (egress), a chat answer as a Message (ingress),
with one table of stop reasons and the usage fields read both ways."""

from __future__ import annotations

from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.upstream_errors import try_json
from oneapi.wire.anthropic.structured import RESPONSE_TOOL, wants_structured_output
from oneapi.wire.openai_chat import chat_completion, new_id

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# chat's finish_reason -> Claude's stop_reason: the first Claude reason of each chat one (end_turn for stop).
_FINISH_REASONS = {chat: claude for claude, chat in reversed(_STOP_REASONS.items())}


def finish_reason(stop_reason: Any) -> str | None:
    if not stop_reason:
        return None
    return _STOP_REASONS.get(stop_reason, str(stop_reason))


def stop_reason(finish: Any) -> str:
    return _FINISH_REASONS.get(finish, "end_turn") if finish else "end_turn"


def prompt_tokens(usage: dict[str, Any]) -> int:
    """Billed input: uncached tokens plus the tokens written to and read from the prompt cache."""
    return sum(int(usage.get(key) or 0) for key in
               ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


def record_usage(req: RelayRequest, usage: dict[str, Any]) -> None:
    """Claude's usage on the request, the prompt cache's reads and writes counted apart (they have own prices)."""
    req.report_usage(prompt_tokens(usage), usage.get("output_tokens"))
    req.usage.cache_read_tokens = int(usage.get("cache_read_input_tokens") or 0)
    req.usage.cache_write_tokens = int(usage.get("cache_creation_input_tokens") or 0)


def usage_of(usage: Any) -> dict[str, int]:
    """Chat usage as Anthropic's."""
    usage = usage if isinstance(usage, dict) else {}
    return {"input_tokens": int(usage.get("prompt_tokens") or 0),
            "output_tokens": int(usage.get("completion_tokens") or 0)}


# -- egress: a Claude Message as chat --------------------------------------------------------------
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


# -- ingress: a chat answer as a Message -----------------------------------------------------------
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
