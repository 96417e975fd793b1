"""Alibaba Qwen on DashScope's native API (SPEC §4.10): text generation, embeddings and wanx images.

Chat goes to ``text-generation/generation`` with ``result_format: message``, so choices come back in OpenAI's
message shape (tool calls included); streams use DashScope's SSE with ``incremental_output`` so each event
carries only the new text. A ``-internet`` model suffix turns on DashScope's web search. Unlike One API,
embeddings are billed from the ``total_tokens`` DashScope reports (One API billed them as free), and tool
round trips keep the assistant's ``tool_calls`` and the tool messages' ids instead of dropping them.

Images are asynchronous on DashScope: the request creates a task (``X-DashScope-Async: enable``) that is
polled on the channel's base URL until it succeeds, fails or the attempts run out.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import orjson

from oneapi.adaptors.base import Completion, HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.shaping import message_text
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import parse_json, try_json
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, embedding_list, new_id

SEARCH_SUFFIX = "-internet"
TOP_P_MAX = 0.9999  # DashScope refuses top_p == 1
TASK_POLL_INTERVAL = 2.0  # seconds between image task polls (One API's value)
TASK_POLL_ATTEMPTS = 20
TASK_FAILED = frozenset({"FAILED", "CANCELED", "UNKNOWN"})

_CHAT_PATH = "/api/v1/services/aigc/text-generation/generation"
_EMBEDDINGS_PATH = "/api/v1/services/embeddings/text-embedding/text-embedding"
_IMAGES_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
_FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


def dashscope_error(status: int, data: dict[str, Any]) -> RelayError:
    """DashScope's ``{code, message, request_id}`` -> OpenAI's error shape with the code as type."""
    code = str(data.get("code") or "")
    message = str(data.get("message") or "") or f"DashScope error {code}"
    return upstream_error(status, message, code or "ali_error", code or None, str(data.get("request_id") or ""))


def _chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages -> DashScope's: text content, lower-case roles, tool calls and tool results kept."""
    tool_names: dict[str, str] = {}
    converted = []
    for message in messages:
        role = str(message.get("role") or "user").lower()
        out: dict[str, Any] = {"role": role, "content": message_text(message.get("content"))}
        calls = message.get("tool_calls")
        if role == "assistant" and isinstance(calls, list) and calls:
            out["tool_calls"] = calls
            for call in calls:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    tool_names[str(call.get("id"))] = str(call["function"].get("name") or "")
        if role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            out["tool_call_id"] = call_id
            out["name"] = message.get("name") or tool_names.get(call_id, "")
        converted.append(out)
    return converted


def _chat_body(req: RelayRequest) -> dict[str, Any]:
    body = req.body
    model = req.model
    enable_search = model.endswith(SEARCH_SUFFIX)
    if enable_search:
        model = model[: -len(SEARCH_SUFFIX)]
    parameters: dict[str, Any] = {"result_format": "message", "incremental_output": req.stream,
                                  "enable_search": enable_search}
    for name in ("seed", "max_tokens", "temperature", "top_k", "stop", "tools"):
        if body.get(name) is not None:
            parameters[name] = body[name]
    top_p = body.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        parameters["top_p"] = min(float(top_p), TOP_P_MAX)
    return {"model": model, "input": {"messages": _chat_messages(body["messages"])}, "parameters": parameters}


def _openai_message(message: dict[str, Any], delta: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": message_text(message.get("content"))}
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [_openai_tool_call(call, i, delta) for i, call in enumerate(calls)
                             if isinstance(call, dict)]
    return out


def _openai_tool_call(call: dict[str, Any], index: int, delta: bool) -> dict[str, Any]:
    """A whole answer's calls all get ids; stream deltas keep DashScope's (only the first piece has one)."""
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
    arguments = function.get("arguments") or ""
    out: dict[str, Any] = {"index": call.get("index", index), "type": "function",
                           "function": {"name": function.get("name") or "",
                                        "arguments": arguments if isinstance(arguments, str)
                                        else orjson.dumps(arguments).decode()}}
    if call.get("id") or not delta:
        out["id"] = call.get("id") or new_id("call_")
    return out


def _finish_reason(value: Any) -> str | None:
    """DashScope sends the string ``"null"`` until the last event."""
    if value in (None, "", "null"):
        return None
    return _FINISH_REASONS.get(str(value), str(value))


class AliAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS, RelayMode.IMAGES})

    def headers(self, req: RelayRequest) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {req.upstream.key}", "Content-Type": "application/json"}
        if req.stream:
            headers.update({"Accept": "text/event-stream", "X-DashScope-SSE": "enable"})
        plugin = req.upstream.config.get("plugin")
        if plugin:
            headers["X-DashScope-Plugin"] = plugin
        return headers

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        base = req.upstream.base_url
        headers = self.headers(req)
        if req.mode == RelayMode.EMBEDDINGS:
            texts = req.body["input"]
            texts = [texts] if isinstance(texts, str) else texts
            body: dict[str, Any] = {"model": req.model, "input": {"texts": texts}, "parameters": {"text_type": "query"}}
            if req.body.get("dimensions"):  # text-embedding-v3 and later
                body["parameters"]["dimension"] = req.body["dimensions"]
            return UpstreamRequest(base + _EMBEDDINGS_PATH, headers, orjson.dumps(body))
        if req.mode == RelayMode.IMAGES:
            headers["X-DashScope-Async"] = "enable"
            size = str(req.body.get("size") or "1024x1024").replace("x", "*")
            body = {"model": req.model, "input": {"prompt": req.body["prompt"]},
                    "parameters": {"size": size, "n": req.body.get("n") or 1}}
            return UpstreamRequest(base + _IMAGES_PATH, headers, orjson.dumps(body))
        return UpstreamRequest(base + _CHAT_PATH, headers, orjson.dumps(_chat_body(req)))

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        data = try_json(raw)
        if isinstance(data, dict) and data.get("code"):
            return dashscope_error(status, data)
        return super().parse_error(status, raw)

    def body_error(self, data: Any) -> RelayError | None:
        if isinstance(data, dict) and data.get("code"):
            return dashscope_error(500, data)
        return None

    def _record_usage(self, req: RelayRequest, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        if req.mode == RelayMode.EMBEDDINGS:
            req.report_usage(usage.get("total_tokens") or usage.get("input_tokens"), 0)
        elif usage.get("output_tokens") or usage.get("input_tokens"):
            req.report_usage(usage.get("input_tokens"), usage.get("output_tokens"))

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        self._record_usage(req, data.get("usage"))
        output = data.get("output") or {}
        if req.mode == RelayMode.EMBEDDINGS:
            return embedding_list(req, ((item.get("text_index", i), item.get("embedding"))
                                        for i, item in enumerate(output.get("embeddings") or ())))
        choice = (output.get("choices") or [{}])[0]
        message = _openai_message(choice.get("message") or {})
        finish = _finish_reason(choice.get("finish_reason")) or "stop"
        return chat_completion(req, str(data.get("request_id") or new_id()), message, finish)

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        async for data in self.json_events(resp, "DashScope stream event"):
            self._record_usage(req, data.get("usage"))
            for choice in (data.get("output") or {}).get("choices") or ():
                message = _openai_message(choice.get("message") or {}, delta=True)
                req.completion_text.append(message["content"])
                yield chat_chunk(req, str(data.get("request_id") or ""), message,
                                 _finish_reason(choice.get("finish_reason")))

    async def complete(self, req: RelayRequest) -> Completion:
        if req.mode != RelayMode.IMAGES:
            return await super().complete(req)
        created = await self.fetch_json(req, "DashScope image task")
        task_id = str((created.get("output") or {}).get("task_id") or "")
        if not task_id:
            raise upstream_error(502, "DashScope did not return an image task id", "ali_error", "no_task_id")
        task = await self._wait(req, task_id)
        data = [await self._image(req, result) for result in task.get("results") or () if result.get("url")]
        return Completion(orjson.dumps({"created": req.created, "data": data}))

    async def _wait(self, req: RelayRequest, task_id: str) -> dict[str, Any]:
        """Poll the task on the channel's own base URL until it ends."""
        url = f"{req.upstream.base_url}/api/v1/tasks/{task_id}"
        headers = {"Authorization": f"Bearer {req.upstream.key}"}
        for attempt in range(TASK_POLL_ATTEMPTS):
            if attempt:
                await asyncio.sleep(TASK_POLL_INTERVAL)
            resp = await self.send(req, UpstreamRequest(url, headers, b"", method="GET"))
            async with resp:
                data = parse_json(await resp.read(), "DashScope task status")
            output = data.get("output") or {}
            status = output.get("task_status")
            if status == "SUCCEEDED":
                return output
            if status in TASK_FAILED:
                raise upstream_error(500, str(output.get("message") or f"the image task ended {status}"),
                                     "ali_error", output.get("code") or "task_failed")
        raise RelayError("the DashScope image task did not finish in time", status=504, type="upstream_error",
                         code="task_timeout", upstream=True, retryable=True)

    async def _image(self, req: RelayRequest, result: dict[str, Any]) -> dict[str, Any]:
        if req.body.get("response_format") != "b64_json":
            return {"url": result["url"]}
        async with req.http.session.get(result["url"], timeout=req.timeout) as resp:
            if resp.status != 200:
                raise upstream_error(502, f"fetching the generated image failed with HTTP {resp.status}")
            return {"b64_json": base64.b64encode(await resp.read()).decode()}


ADAPTOR = AliAdaptor()
