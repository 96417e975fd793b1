"""A fake Anthropic Messages API (POST /v1/messages), written from Anthropic's API reference.

It checks what the real API checks: ``x-api-key`` (401 ``authentication_error``), ``anthropic-version``,
the required fields (``model``, ``max_tokens``, ``messages``), no unknown top-level fields, roles that
alternate user/assistant starting with user and never "system", non-empty text blocks, image sources,
tool_use ids answered by tool_result blocks in the next user turn, and extended thinking's rules
(``budget_tokens`` >= 1024 and < ``max_tokens``; no temperature other than 1, no top_k, no forced tool use).
Answers are deterministic: text ``reply`` or, when tools are offered and no tool result came back yet,
``tool_uses``, led by a signed ``thinking`` block (``thoughts``) when thinking is enabled; usage is what the
fake was told (``usage``), with Anthropic's cumulative ``output_tokens`` in ``message_delta``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import schema_example, split_text, stream_fault

_TOP_LEVEL = {"model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p",
              "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier"}
_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


class Invalid(Exception):
    """A request the real API would refuse with 400 invalid_request_error."""


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _refusal(status: int, kind: str, message: str) -> Refusal:
    return Refusal(web.json_response(error_body(kind, message), status=status))


@dataclass
class FakeAnthropic(FakeServer):
    key: str = "sk-ant-upstream"
    reply: str = "Hello from Claude"
    usage: tuple[int, int] = (13, 5)  # (input_tokens, output_tokens) reported
    cache: tuple[int, int] = (0, 0)  # (cache_creation_input_tokens, cache_read_input_tokens) reported, when not 0
    tool_uses: list[tuple[str, dict[str, Any]]] = field(default_factory=lambda: [("get_weather", {"city": "Paris"})])
    lead_text: str = ""  # a text block before the tool_use blocks ("Let me check.")
    thoughts: str = "The user greets me, so I greet them back."  # the thinking block, when thinking is enabled
    stop_reason: str = "end_turn"
    stream_error: dict[str, Any] | None = None  # an `error` event sent after the first text delta
    stream_fault: str | None = None  # one of shared.STREAM_FAULTS, after the first text delta

    def fail_next(self, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with this error (and these headers, e.g. retry-after on a 429)."""
        self.failures.append((status, error_body(kind, message), headers or {}))

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/messages", self.messages), web.post("/v1/messages/count_tokens", self.count_tokens)]

    def _check_headers(self, request: web.Request) -> None:
        self.record(request)
        key = request.headers.get("x-api-key")
        if not key:
            raise _refusal(401, "authentication_error", "x-api-key header is required")
        if key != self.key:
            raise _refusal(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise _refusal(400, "invalid_request_error", "anthropic-version: header is required")

    async def count_tokens(self, request: web.Request) -> web.Response:
        """Counts like the real endpoint takes them: the Messages fields without max_tokens."""
        self._check_headers(request)
        body = orjson.loads(await request.read())
        self.requests.append(body)
        if "max_tokens" in body or "stream" in body:
            raise _refusal(400, "invalid_request_error", "max_tokens: Extra inputs are not permitted")
        try:
            validate({**body, "max_tokens": 4096})
        except Invalid as exc:
            raise _refusal(400, "invalid_request_error", str(exc)) from None
        return web.json_response({"input_tokens": self.usage[0] + sum(self.cache)})

    def _usage(self) -> dict[str, int]:
        usage = {"input_tokens": self.usage[0], "output_tokens": self.usage[1]}
        if any(self.cache):
            usage.update(cache_creation_input_tokens=self.cache[0], cache_read_input_tokens=self.cache[1])
        return usage

    async def messages(self, request: web.Request) -> web.StreamResponse:
        self._check_headers(request)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _refusal(400, "invalid_request_error", "request body is not valid JSON") from None
        self.requests.append(body)
        try:
            validate(body)
        except Invalid as exc:
            raise _refusal(400, "invalid_request_error", str(exc)) from None
        if self.failures:
            status, payload, headers = self.failures.pop(0)
            return web.json_response(payload, status=status, headers=headers)
        content = self._content(body)
        stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in content) else self.stop_reason
        if body.get("stream"):
            return await self._stream(request, body, content, stop_reason)
        return web.json_response({
            "id": "msg_01FakeMessage", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": self._usage(),
        })

    def _answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        last = body["messages"][-1]["content"]
        answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
        forced = body.get("tool_choice") or {}
        if forced.get("type") == "tool" and not answered:  # a forced tool is called, with input fitting its schema
            tool = next(tool for tool in body["tools"] if tool["name"] == forced["name"])
            return [{"type": "tool_use", "id": "toolu_fake0", "name": tool["name"],
                     "input": schema_example(tool["input_schema"])}]
        if not body.get("tools") or answered or not self.tool_uses:
            return [{"type": "text", "text": self.reply}]
        blocks = [{"type": "text", "text": self.lead_text}] if self.lead_text else []
        blocks += [{"type": "tool_use", "id": f"toolu_fake{i}", "name": name, "input": args}
                   for i, (name, args) in enumerate(self.tool_uses)]
        return blocks

    def _content(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The answer's blocks, led by the thinking block when the request enabled thinking."""
        thinking = (body.get("thinking") or {}).get("type") == "enabled"
        lead = [{"type": "thinking", "thinking": self.thoughts, "signature": "EqQBCgIYAhIMfakeSignature"}]
        return (lead if thinking else []) + self._answer(body)

    async def _stream(self, request: web.Request, body: dict[str, Any], content: list[dict[str, Any]],
                      stop_reason: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)

        async def send(event: dict[str, Any]) -> None:
            await response.write(f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n")

        await send({"type": "message_start", "message": {
            "id": "msg_01FakeStream", "type": "message", "role": "assistant", "model": body["model"], "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {**self._usage(), "output_tokens": 1}}})
        await send({"type": "ping"})
        for index, block in enumerate(content):
            kind = block["type"]
            if kind in ("thinking", "text"):  # the block's text in three thinking_delta or text_delta events
                await send({"type": "content_block_start", "index": index, "content_block": {"type": kind, kind: ""}})
                for piece in split_text(block[kind], 3):
                    await send({"type": "content_block_delta", "index": index,
                                "delta": {"type": f"{kind}_delta", kind: piece}})
                    if kind == "text" and self.stream_error is not None:
                        await send({"type": "error", "error": self.stream_error})
                        return response
                    if kind == "text" and await stream_fault(response, self.stream_fault):
                        return response
                if kind == "thinking":
                    await send({"type": "content_block_delta", "index": index,
                                "delta": {"type": "signature_delta", "signature": block["signature"]}})
            else:
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                await send({"type": "content_block_start", "index": index, "content_block": start})
                arguments = orjson.dumps(block["input"]).decode() if block["input"] else ""
                for piece in ["", *split_text(arguments, 3)]:
                    await send({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece}})
            await send({"type": "content_block_stop", "index": index})
        await send({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": self.usage[1]}})
        await send({"type": "message_stop"})
        return response


def validate(body: dict[str, Any]) -> None:
    """The Messages API's request checks, with its error texts."""
    extra = set(body) - _TOP_LEVEL
    if extra:
        raise Invalid(f"{sorted(extra)[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise Invalid("max_tokens: Field required" if max_tokens is None else "max_tokens: must be at least 1")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise Invalid("system: Input should be a valid string or list")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise Invalid("stop_sequences: Input should be a valid list of strings")
    tool_names = _validate_tools(body)
    _validate_thinking(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "system":
            raise Invalid('messages: Unexpected role "system". The Messages API accepts a top-level `system` '
                          'parameter, not "system" as an input message role.')
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i == 0 and role != "user":
            raise Invalid("messages: first message must use the \"user\" role")
        if i and messages[i - 1].get("role") == role:
            raise Invalid(f'messages: roles must alternate between "user" and "assistant", but found multiple '
                          f'"{role}" roles in a row')
        blocks = _blocks(message.get("content"), i)
        results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        if pending and not pending <= results:
            raise Invalid(f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                          f"after: {', '.join(sorted(pending - results))}")
        if results - pending:
            raise Invalid(f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                          f"{', '.join(sorted(results - pending))}")
        pending = set()
        for block in blocks:
            kind = block.get("type")
            if kind == "tool_use":
                if role != "assistant":
                    raise Invalid(f"messages.{i}: tool_use blocks are only allowed in assistant messages")
                if block.get("name") not in tool_names or not isinstance(block.get("input"), dict):
                    raise Invalid(f"messages.{i}: tool_use needs a declared tool name and an object input")
                pending.add(block.get("id"))
            elif kind == "tool_result" and role != "user":
                raise Invalid(f"messages.{i}: tool_result blocks are only allowed in user messages")
    if messages[-1]["role"] == "assistant" and pending:
        raise Invalid("messages: the final assistant message cannot end with tool_use")


def _validate_tools(body: dict[str, Any]) -> set[str]:
    tools = body.get("tools") or []
    names = set()
    for i, tool in enumerate(tools):
        schema = tool.get("input_schema")
        if not tool.get("name") or not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"tools.{i}.input_schema: JSON schema must have type 'object'")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not tools:
            raise Invalid("tool_choice may only be specified while providing tools")
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid("tool_choice.name: tool not found in tools")
    return names


def _validate_thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled"):
        raise Invalid(f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
                      "'disabled', 'enabled'")
    if kind == "disabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise Invalid("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if body["max_tokens"] <= budget:
        raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation "
                      f"at {_THINKING_DOCS}#max-tokens-and-context-window-size")
    if body.get("temperature", 1) != 1:
        raise Invalid("`temperature` may only be set to 1 when thinking is enabled. Please consult our "
                      f"documentation at {_THINKING_DOCS}#important-considerations-when-using-extended-thinking")
    if body.get("top_k") is not None:
        raise Invalid("`top_k` must be unset when thinking is enabled. Please consult our documentation at "
                      f"{_THINKING_DOCS}#important-considerations-when-using-extended-thinking")
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")


def _blocks(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content:
            raise Invalid(f"messages.{index}: all messages must have non-empty content")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise Invalid(f"messages.{index}: all messages must have non-empty content")
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"messages.{index}.content.{j}"
        if kind == "text":
            if not isinstance(block.get("text"), str) or not block["text"]:
                raise Invalid(f"{where}.text: text content blocks must be non-empty")
        elif kind == "image":
            _validate_image(block.get("source") or {}, where)
        elif kind == "tool_result":
            if not block.get("tool_use_id"):
                raise Invalid(f"{where}.tool_use_id: Field required")
        elif kind not in ("tool_use", "thinking", "redacted_thinking"):
            raise Invalid(f"{where}.type: Input tag '{kind}' does not match any of the expected tags")
    return content


def _validate_image(source: dict[str, Any], where: str) -> None:
    if source.get("type") == "url":
        if not str(source.get("url", "")).startswith(("http://", "https://")):
            raise Invalid(f"{where}.source.url: must be an http(s) URL")
        return
    if source.get("type") != "base64":
        raise Invalid(f"{where}.source.type: Input tag '{source.get('type')}' does not match 'base64' or 'url'")
    if source.get("media_type") not in _IMAGE_TYPES:
        raise Invalid(f"{where}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                      f"'image/webp'")
    try:
        base64.b64decode(source.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{where}.source.data: invalid base64 data") from None
