"""A fake DashScope (Alibaba Model Studio) native API, written from its API reference.

Speaks text generation (``result_format`` message or text, SSE when ``X-DashScope-SSE: enable``, whole or
incremental output, tool calls), text embeddings and the asynchronous wanx text-to-image task API. Auth is
``Authorization: Bearer <key>``; a wrong key gets DashScope's 401 ``InvalidApiKey`` body. Usage numbers are
the ones the fake is told to report, so tests can assert the bill exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sized

PNG_BYTES = b"\x89PNG\r\n\x1a\nfake-wanx-image"
_ROLES = {"system", "user", "assistant", "tool"}


def _request_id() -> str:
    return str(uuid.uuid4())


def _error(status: int, code: str, message: str) -> Refusal:
    return Refusal(web.json_response({"code": code, "message": message, "request_id": _request_id()},
                                     status=status))


@dataclass
class FakeDashScope(FakeServer):
    key: str = "sk-dashscope"
    reply: str = "Hello from Qwen"
    usage: tuple[int, int] = (13, 5)  # (input_tokens, output_tokens) reported for chat
    embedding_tokens: int = 9
    chunks: int = 3
    polls_until_done: int = 2  # task queries answered PENDING/RUNNING before SUCCEEDED
    task_failure: tuple[str, str] | None = None  # (code, message) makes image tasks end FAILED
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/v1/services/aigc/text-generation/generation", self.generation),
                web.post("/api/v1/services/embeddings/text-embedding/text-embedding", self.embeddings),
                web.post("/api/v1/services/aigc/text2image/image-synthesis", self.image_synthesis),
                web.get("/api/v1/tasks/{task_id}", self.task), web.get("/images/{name}", self.image_file)]

    async def _check(self, request: web.Request) -> dict[str, Any]:
        """The body (empty for a GET) of a call with the right key, unless a failure is scripted."""
        self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            raise _error(401, "InvalidApiKey", "Invalid API-key provided.")
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise _error(400, "InvalidParameter", "The request body is not valid JSON.") from None
            self.requests.append(body)
        if self.failures:
            raise _error(*self.failures.pop(0))  # (HTTP status, code, message)
        return body

    # -- text generation ---------------------------------------------------------------------------
    async def generation(self, request: web.Request) -> web.StreamResponse:
        body = await self._check(request)
        messages = (body.get("input") or {}).get("messages")
        if not isinstance(body.get("model"), str) or not isinstance(messages, list) or not messages:
            raise _error(400, "InvalidParameter", "Field required: input.messages")
        problem = _invalid_messages(messages)
        if problem:
            raise _error(400, "InvalidParameter", problem)
        parameters = body.get("parameters") or {}
        top_p = parameters.get("top_p")
        if top_p is not None and not 0 < top_p < 1:
            raise _error(400, "InvalidParameter", "Range of top_p should be (0.0, 1.0)")
        message, finish = self._answer(messages, parameters)
        sse = request.headers.get("X-DashScope-SSE") == "enable" or \
            request.headers.get("Accept") == "text/event-stream"
        if not sse:
            return web.json_response(self._output(message, finish, parameters, self.usage))
        return await self._stream(request, message, finish, parameters)

    def _answer(self, messages: list[dict[str, Any]], parameters: dict[str, Any]) -> tuple[dict[str, Any], str]:
        last = messages[-1]
        if last["role"] == "tool":
            return {"role": "assistant", "content": f"The tool said: {last['content']}"}, "stop"
        tools = parameters.get("tools")
        if tools:
            name = tools[0]["function"]["name"]
            call = {"index": 0, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                    "function": {"name": name, "arguments": '{"location": "Hangzhou"}'}}
            return {"role": "assistant", "content": "", "tool_calls": [call]}, "tool_calls"
        return {"role": "assistant", "content": self.reply}, "stop"

    def _output(self, message: dict[str, Any], finish: str, parameters: dict[str, Any],
                usage: tuple[int, int]) -> dict[str, Any]:
        if parameters.get("result_format") == "message":
            output: dict[str, Any] = {"choices": [{"finish_reason": finish, "message": message}]}
        else:
            output = {"text": message["content"], "finish_reason": finish}
        prompt, completion = usage
        return {"output": output, "request_id": _request_id(),
                "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion}}

    async def _stream(self, request: web.Request, message: dict[str, Any], finish: str,
                      parameters: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8"})
        await response.prepare(request)
        text = message["content"]
        size = max(1, -(-len(text) // self.chunks))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        incremental = parameters.get("incremental_output") is True
        prompt, completion = self.usage
        sent = ""
        for number, piece in enumerate(pieces, 1):
            sent += piece
            last = number == len(pieces)
            part = dict(message, content=piece if incremental else sent)
            if not last:
                part.pop("tool_calls", None)
            tokens = completion if last else max(1, completion * number // len(pieces))
            event = self._output(part, finish if last else "null", parameters, (prompt, tokens))
            await response.write(f"id:{number}\nevent:result\n:HTTP_STATUS/200\ndata:".encode()
                                 + orjson.dumps(event) + b"\n\n")
        return response

    # -- embeddings --------------------------------------------------------------------------------
    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        texts = (body.get("input") or {}).get("texts")
        dimension = (body.get("parameters") or {}).get("dimension")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise _error(400, "InvalidParameter", "input.texts should be a list of strings")
        return web.json_response({
            "output": {"embeddings": [{"text_index": i, "embedding": sized([0.25, -0.5, float(i)], dimension)}
                                      for i in range(len(texts))]},
            "usage": {"total_tokens": self.embedding_tokens}, "request_id": _request_id()})

    # -- images (asynchronous tasks) ------------------------------------------------------------------
    async def image_synthesis(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        if request.headers.get("X-DashScope-Async") != "enable":
            raise _error(403, "AccessDenied", "current user api does not support synchronous calls")
        prompt = (body.get("input") or {}).get("prompt")
        size = (body.get("parameters") or {}).get("size", "1024*1024")
        if not isinstance(prompt, str) or not prompt or "*" not in size:
            raise _error(400, "InvalidParameter", "input.prompt is required and size must look like 1024*1024")
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = {"n": int((body.get("parameters") or {}).get("n") or 1), "polls": 0}
        return web.json_response({"output": {"task_status": "PENDING", "task_id": task_id},
                                  "request_id": _request_id()})

    async def task(self, request: web.Request) -> web.Response:
        await self._check(request)
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            raise _error(404, "NotFound", f"task {task_id} not found")
        task["polls"] += 1
        output: dict[str, Any] = {"task_id": task_id}
        if task["polls"] <= self.polls_until_done:
            output["task_status"] = "PENDING" if task["polls"] == 1 else "RUNNING"
        elif self.task_failure is not None:
            output.update(task_status="FAILED", code=self.task_failure[0], message=self.task_failure[1])
        else:
            output.update(task_status="SUCCEEDED",
                          results=[{"url": f"{self.url}/images/{task_id}-{i}.png"} for i in range(task["n"])],
                          task_metrics={"TOTAL": task["n"], "SUCCEEDED": task["n"], "FAILED": 0})
        return web.json_response({"request_id": _request_id(), "output": output,
                                  "usage": {"image_count": task["n"]}})

    async def image_file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG_BYTES, content_type="image/png")


def _invalid_messages(messages: list[Any]) -> str:
    """DashScope's own checks: known roles, string content, tool results answering a tool call."""
    pending_calls: set[str] = set()
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return "Role must be in [system, user, assistant, tool]"
        if not isinstance(message.get("content"), str):
            return "Input should be a valid string: content"
        if message["role"] == "assistant":
            pending_calls = {call["function"]["name"] for call in message.get("tool_calls") or ()}
        elif message["role"] == "tool" and message.get("name") not in pending_calls:
            return "a tool message must answer a tool call of the assistant message before it"
    return ""
