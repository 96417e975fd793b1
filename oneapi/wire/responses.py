"""OpenAI's Responses API <-> OpenAI chat, for the /v1/responses front door on channels that only speak chat.

``chat_request`` reads a Responses request (input string or items, instructions, function tools, reasoning)
as chat; ``output_of`` says a chat answer as Response output items, and ``EventsFromChat`` says chat chunks
as the Responses event sequence (response.created ... response.completed). Output items are valid input
items, so a stored conversation is just its items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from oneapi.adaptors.usage import Usage
from oneapi.errors import RelayError
from oneapi.wire.openai_chat import named_event, new_id


def invalid(message: str, param: str | None = None) -> RelayError:
    return RelayError(message, status=400, type="invalid_request_error", param=param)


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items (a string is one user message)."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise invalid("Missing required parameter: 'input'.", "input")
    if not all(isinstance(item, dict) for item in given):
        raise invalid("Invalid 'input': every item must be an object.", "input")
    return given


def chat_request(body: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A Responses request, over the conversation ``items`` (earlier turns included), as a chat request."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("Missing required parameter: 'model'.", "model")
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    for i, item in enumerate(items):
        _add_item(messages, item, i)
    request: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        request["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user", "parallel_tool_calls"):
        if body.get(name) is not None:
            request[name] = body[name]
    if body.get("stream") is True:
        request["stream"] = True
    tools = [_chat_tool(tool, i) for i, tool in enumerate(body.get("tools") or ())]
    if tools:
        request["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            request["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice in ("auto", "none", "required"):
            request["tool_choice"] = choice
    effort = (body.get("reasoning") or {}).get("effort") if isinstance(body.get("reasoning"), dict) else None
    if effort:
        request["reasoning_effort"] = effort
    return request


def _add_item(messages: list[dict[str, Any]], item: dict[str, Any], index: int) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise invalid(f"Invalid value for 'input[{index}].role': {role!r}.", f"input[{index}].role")
        messages.append({"role": role, "content": _content(item.get("content"), index)})
    elif kind == "function_call":
        call = {"id": item.get("call_id") or "", "type": "function",
                "function": {"name": item.get("name") or "", "arguments": item.get("arguments") or "{}"}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and (last.get("tool_calls") or not last["content"]):
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        messages.append({"role": "tool", "tool_call_id": item.get("call_id") or "",
                         "content": output if isinstance(output, str) else orjson.dumps(output).decode()})
    elif kind == "reasoning":
        return  # the model's own thoughts: chat models take none back
    else:
        raise invalid(f"Invalid value for 'input[{index}].type': {kind!r} is not supported here.",
                      f"input[{index}].type")


def _content(content: Any, index: int) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid(f"Invalid 'input[{index}].content': a string or a list of parts is required.")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"],
                                                             "detail": part.get("detail") or "auto"}})
        elif kind == "refusal":
            parts.append({"type": "text", "text": str(part.get("refusal") or "")})
        else:
            raise invalid(f"Invalid 'input[{index}].content': part type {kind!r} is not supported here.")
    return parts


def _chat_tool(tool: Any, index: int) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function" or not tool.get("name"):
        raise invalid(f"tools[{index}]: only function tools with a name are supported on this model.",
                      f"tools[{index}]")
    function = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    for key in ("description", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


# -- a chat answer as a Response -------------------------------------------------------------------------
def usage_of(usage: Usage) -> dict[str, Any]:
    return {"input_tokens": usage.prompt_tokens, "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            "output_tokens": usage.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.total_tokens}


def message_item(text: str, item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id or new_id("msg_"), "status": status, "role": "assistant",
            "content": content}


def call_item(call: dict[str, Any], item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    function = call.get("function") or {}
    return {"type": "function_call", "id": item_id or new_id("fc_"), "call_id": call.get("id") or new_id("call_"),
            "name": function.get("name") or "", "arguments": function.get("arguments") or "", "status": status}


def output_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``chat.completion``'s first choice as Response output items: the message, then each function call."""
    message = ((answer.get("choices") or [{}])[0]).get("message") or {}
    output = []
    if message.get("content"):
        output.append(message_item(message["content"]))
    output.extend(call_item(call) for call in message.get("tool_calls") or ())
    return output


def response(body: dict[str, Any], response_id: str, model: str, output: list[dict[str, Any]],
             usage: dict[str, Any] | None, status: str = "completed") -> dict[str, Any]:
    """A Response object, echoing the request's settings as OpenAI does."""
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()), "status": status,
        "model": model, "output": output, "usage": usage, "error": None, "incomplete_details": None,
        "instructions": body.get("instructions"), "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True), "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [], "temperature": body.get("temperature"), "top_p": body.get("top_p"),
        "max_output_tokens": body.get("max_output_tokens"), "previous_response_id": body.get("previous_response_id"),
        "store": body.get("store", True), "reasoning": body.get("reasoning"), "text": {"format": {"type": "text"}},
        "truncation": "disabled",
    }


@dataclass
class EventsFromChat:
    """Chat chunks said as the Responses stream: created, in_progress, then per output item added /
    (content_part.added, output_text.delta..., output_text.done, content_part.done) or
    (function_call_arguments.delta..., .done) / output_item.done, and completed with usage."""

    body: dict[str, Any]
    response_id: str
    model: str
    sequence: int = 0
    started: bool = False
    output: list[dict[str, Any]] = field(default_factory=list)
    open_key: str = ""  # "text" or "call:<chat index>" of the item being streamed
    pieces: list[str] = field(default_factory=list)  # its text or arguments so far (joined when it closes)
    final: dict[str, Any] | None = None  # the completed Response, once the stream ended

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return named_event(payload)

    def _start(self) -> bytes:
        self.started = True
        shell = response(self.body, self.response_id, self.model, [], None, "in_progress")
        return self._event("response.created", response=shell) + self._event("response.in_progress", response=shell)

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b"" if self.started else self._start()
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out += self._open("text", message_item("", status="in_progress"))
                item = self.output[-1]
                self.pieces.append(delta["content"])
                out += self._event("response.output_text.delta", item_id=item["id"], output_index=len(self.output) - 1,
                                   content_index=0, delta=delta["content"], logprobs=[])
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                key = f"call:{call.get('index', 0)}"
                if key != self.open_key:
                    out += self._open(key, call_item({"id": call.get("id"), "function": {
                        "name": function.get("name"), "arguments": ""}}, status="in_progress"))
                if function.get("arguments"):
                    item = self.output[-1]
                    self.pieces.append(function["arguments"])
                    out += self._event("response.function_call_arguments.delta", item_id=item["id"],
                                       output_index=len(self.output) - 1, delta=function["arguments"])
        return out

    def _open(self, key: str, item: dict[str, Any]) -> bytes:
        if key == self.open_key:
            return b""
        out = self._close()
        self.open_key = key
        self.output.append(item)
        index = len(self.output) - 1
        out += self._event("response.output_item.added", output_index=index, item=dict(item, content=[])
                           if item["type"] == "message" else dict(item))
        if item["type"] == "message":
            item["content"] = [{"type": "output_text", "text": "", "annotations": []}]
            out += self._event("response.content_part.added", item_id=item["id"], output_index=index,
                               content_index=0, part={"type": "output_text", "text": "", "annotations": []})
        return out

    def _close(self) -> bytes:
        if not self.open_key:
            return b""
        self.open_key = ""
        item = self.output[-1]
        index = len(self.output) - 1
        item["status"] = "completed"
        said, self.pieces = "".join(self.pieces), []
        if item["type"] == "message":
            part = item["content"][0]
            part["text"] = said
            out = self._event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                              text=part["text"], logprobs=[])
            out += self._event("response.content_part.done", item_id=item["id"], output_index=index,
                               content_index=0, part=part)
        else:
            item["arguments"] = said
            out = self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              arguments=item["arguments"])
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def end(self, usage: Usage) -> bytes:
        out = (b"" if self.started else self._start()) + self._close()
        self.final = response(self.body, self.response_id, self.model, self.output, usage_of(usage))
        return out + self._event("response.completed", response=self.final)


def record_usage(req: Any, response_object: Any) -> None:
    """A Response's own ``usage`` (input / output tokens) on the request, when it carries one."""
    usage = response_object.get("usage") if isinstance(response_object, dict) else None
    if isinstance(usage, dict) and usage.get("total_tokens"):
        req.report_usage(usage.get("input_tokens"), usage.get("output_tokens"))
