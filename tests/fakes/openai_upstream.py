"""A fake OpenAI API that speaks the real wire format and checks the real auth (``Bearer <key>``).

Answers are deterministic so that tests can assert exact quota: the reply text is ``reply`` (default
"Hello from fake"), and usage is what the fake was told to report (``usage``), not a local estimate.
Failures are scripted per request with ``fail_next``.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import (
    openai_embedding,
    sized,
    split_text,
    sse_event,
    stream_fault,
    structured_reply,
    token_usage,
)


@dataclass
class FakeOpenAI(FakeServer):
    key: str = "sk-upstream"
    reply: str = "Hello from fake"
    usage: tuple[int, int] | None = (11, 7)  # (prompt, completion) reported; None: report no usage
    chunks: int = 3  # stream chunks the reply is split into
    chunk_delay: float = 0.0
    gate: asyncio.Event | None = None  # when set, chat answers wait until the test opens it
    name: str = "fake"
    stream_fault: str | None = None  # one of shared.STREAM_FAULTS, after the first piece of text
    base64_embeddings: bool = True  # honours encoding_format "base64" (OpenAI does; some compatible vendors not)
    tool_uses: list[tuple[str, dict[str, Any]]] = field(default_factory=lambda: [("get_weather", {"city": "Paris"})])

    def fail_next(self, status: int, message: str = "upstream failure", type_: str = "server_error",
                  code: str | None = None, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests with this error (and these headers, e.g. Retry-After)."""
        for _ in range(times):
            self.failures.append((status, {"error": {"message": message, "type": type_, "param": None,
                                                     "code": code}}, headers or {}))

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/chat/completions", self.chat), web.post("/v1/completions", self.completions),
                web.post("/v1/embeddings", self.embeddings), web.post("/v1/images/generations", self.images),
                web.post("/v1/moderations", self.moderations), web.post("/v1/audio/speech", self.speech),
                web.post("/v1/audio/transcriptions", self.transcriptions),
                web.post("/v1/responses", self.responses)]

    def _check(self, request: web.Request, body: dict[str, Any]) -> None:
        """Record the request; refuse a wrong key, or answer a scripted failure."""
        self.requests.append(body)
        self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            raise Refusal(web.json_response({"error": {"message": "Incorrect API key provided", "type":
                                                       "invalid_request_error", "param": None,
                                                       "code": "invalid_api_key"}}, status=401))
        if self.failures:
            status, payload, headers = self.failures.pop(0)
            raise Refusal(web.json_response(payload, status=status, headers=headers))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """The JSON body of a request that passed ``_check``."""
        body = await request.json()
        self._check(request, body)
        return body

    def _tool_calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Like a model: offered tools and no tool result yet, it calls each of ``tool_uses`` it was offered."""
        messages = body.get("messages") or [{}]
        if not body.get("tools") or messages[-1].get("role") == "tool":
            return []
        offered = {tool["function"]["name"] for tool in body["tools"] if tool.get("type") == "function"}
        return [{"id": f"call_fake{i}", "type": "function",
                 "function": {"name": name, "arguments": orjson.dumps(args).decode()}}
                for i, (name, args) in enumerate(self.tool_uses) if name in offered]

    def _usage(self) -> dict[str, int] | None:
        if self.usage is None:
            return None
        return token_usage(*self.usage)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if self.gate is not None:
            await self.gate.wait()
        model = body.get("model")
        reply = structured_reply(body, self.reply)
        calls = self._tool_calls(body)
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": None if calls else reply}
            if calls:
                message["tool_calls"] = calls
            answer = {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
                      "choices": [{"index": 0, "message": message, "finish_reason": finish}]}
            if self.usage is not None:
                answer["usage"] = self._usage()
            return web.json_response(answer)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = split_text(reply, self.chunks)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model}
        await sse_event(response, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                     "finish_reason": None}]})
        for piece in [] if calls else pieces:
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await sse_event(response, {**base, "choices": [{"index": 0, "delta": {"content": piece},
                                                         "finish_reason": None}]})
            if await stream_fault(response, self.stream_fault):
                return response
        for index, call in enumerate(calls):  # each call's name first, then its arguments in two pieces
            arguments = call["function"]["arguments"]
            head = {**call, "index": index, "function": {"name": call["function"]["name"], "arguments": ""}}
            for delta in (head, {"index": index, "function": {"arguments": arguments[:5]}},
                          {"index": index, "function": {"arguments": arguments[5:]}}):
                await sse_event(response, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [delta]},
                                                             "finish_reason": None}]})
        await sse_event(response, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        options = body.get("stream_options") or {}
        if options.get("include_usage") and self.usage is not None:
            await sse_event(response, {**base, "choices": [], "usage": self._usage()})
        await response.write(b"data: [DONE]\n\n")
        return response

    async def completions(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        answer: dict[str, Any] = {"id": "cmpl-fake", "object": "text_completion", "created": 1700000000,
                                  "model": body.get("model"),
                                  "choices": [{"index": 0, "text": self.reply, "finish_reason": "stop",
                                               "logprobs": None}]}
        if self.usage is not None:
            answer["usage"] = self._usage()
        return web.json_response(answer)

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        prompt = self.usage[0] if self.usage else 0
        return web.json_response({
            "object": "list", "model": body.get("model"),
            "data": [openai_embedding(body if self.base64_embeddings else {}, i,
                                      sized([0.1, 0.2, 0.3], body.get("dimensions")))
                     for i in range(len(inputs))],
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        })

    async def images(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        pictures = [{"url": f"https://images.example/{i}.png"} for i in range(body.get("n", 1))]
        return web.json_response({"created": 1700000000, "data": pictures})

    async def moderations(self, request: web.Request) -> web.Response:
        await self._body(request)
        return web.json_response({"id": "modr-fake", "model": "text-moderation-007",
                                  "results": [{"flagged": False, "categories": {}, "category_scores": {}}]})

    async def speech(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.Response(body=b"ID3-fake-mp3-" + body["input"].encode(), content_type="audio/mpeg")

    async def transcriptions(self, request: web.Request) -> web.Response:
        """Multipart in, like OpenAI: file + model (+ response_format); the transcript is ``reply``."""
        form = await request.post()
        self._check(request, {k: v for k, v in form.items() if isinstance(v, str)})
        upload = form.get("file")
        if not hasattr(upload, "file") or not form.get("model"):
            return web.json_response({"error": {"message": "file and model are required",
                                                "type": "invalid_request_error"}}, status=400)
        if form.get("response_format") == "text":
            return web.Response(text=self.reply)
        return web.json_response({"text": self.reply})

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API (see ``serve_responses``); a ``previous_response_id`` of another server is unknown."""
        body = await self._body(request)
        if body.get("previous_response_id"):
            return web.json_response({"error": {"message": f"Previous response with id "
                                                f"'{body['previous_response_id']}' not found.",
                                                "type": "invalid_request_error", "param": "previous_response_id",
                                                "code": "previous_response_not_found"}}, status=400)
        return await serve_responses(request, body, self.reply, self.usage or (0, 0), self.tool_uses, self.chunks)


async def serve_responses(request: web.Request, body: dict[str, Any], reply: str, usage: tuple[int, int],
                          tool_uses: list[tuple[str, dict[str, Any]]], chunks: int) -> web.StreamResponse:
    """A Responses API answer: ``reply`` as one message item, or a function_call item per offered tool of
    ``tool_uses`` while no function_call_output came back; streamed with the real event sequence."""
    items = [{"type": "message", "role": "user", "content": body["input"]}] if isinstance(body["input"], str) \
        else body["input"]
    offered = {tool.get("name") for tool in body.get("tools") or ()}
    answered = any(item.get("type") == "function_call_output" for item in items)
    output: list[dict[str, Any]] = [
        {"type": "function_call", "id": f"fc_fake{i}", "call_id": f"call_fake{i}", "name": name,
         "arguments": orjson.dumps(args).decode(), "status": "completed"}
        for i, (name, args) in enumerate(tool_uses) if name in offered and not answered]
    if not output:
        output = [{"type": "message", "id": "msg_fake", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": reply, "annotations": []}]}]
    prompt, completion = usage
    answer = {"id": f"resp_{uuid.uuid4().hex}", "object": "response", "created_at": 1700000000,
              "status": "completed", "model": body["model"], "output": output, "parallel_tool_calls": True,
              "tool_choice": "auto",
              "tools": body.get("tools") or [], "error": None, "incomplete_details": None,
              "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                        "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": prompt + completion}}
    if not body.get("stream"):
        return web.json_response(answer)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    sequence = iter(range(1000))

    async def send(kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": next(sequence), **fields}
        await response.write(f"event: {kind}\n".encode() + b"data: " + orjson.dumps(payload) + b"\n\n")

    shell = {**answer, "status": "in_progress", "output": [], "usage": None}
    await send("response.created", response=shell)
    await send("response.in_progress", response=shell)
    for index, item in enumerate(output):
        if item["type"] == "message":
            await send("response.output_item.added", output_index=index, item={**item, "content": [],
                                                                                "status": "in_progress"})
            part = {"type": "output_text", "text": "", "annotations": []}
            await send("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                       part=part)
            for piece in split_text(reply, chunks):
                await send("response.output_text.delta", item_id=item["id"], output_index=index,
                           content_index=0, delta=piece, logprobs=[])
            await send("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                       text=reply, logprobs=[])
            await send("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                       part=item["content"][0])
        else:
            await send("response.output_item.added", output_index=index, item={**item, "arguments": "",
                                                                                "status": "in_progress"})
            await send("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                       delta=item["arguments"])
            await send("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                       arguments=item["arguments"])
        await send("response.output_item.done", output_index=index, item=item)
    await send("response.completed", response=answer)
    return response
