"""Streams both ways: Claude's events as chat chunks (egress, with tool calls streamed by ``index`` and
``finish_reason`` null until the last chunk; thinking comes out as DeepSeek's ``reasoning_content``), chat chunks
as Anthropic's event sequence (ingress)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from oneapi.adaptors.base import RelayRequest
from oneapi.adaptors.usage import Usage
from oneapi.wire.anthropic.errors import claude_error
from oneapi.wire.anthropic.message import finish_reason, message_id, record_usage, stop_reason, usage_of
from oneapi.wire.anthropic.structured import RESPONSE_TOOL
from oneapi.wire.openai_chat import chat_chunk, named_event, new_id


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
