"""A fake Azure OpenAI resource, written from Azure's inference REST reference.

``POST /openai/deployments/{deployment}/{chat/completions|completions|embeddings|images/generations}
?api-version=...`` with the key in ``api-key`` (401 otherwise, Azure's text). An unknown api-version is
404 "Resource not found", an unknown deployment 404 DeploymentNotFound, and ``stream_options`` before
2024-09-01 is 400 "Unrecognized request argument supplied". Streams start with Azure's
``choices: []`` prompt-filter chunk. Usage numbers are the fake's (``usage``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import serve_responses
from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import openai_embedding, sized, sse_event, structured_reply, token_usage

API_VERSIONS = {"2023-05-15", "2024-02-01", "2024-03-01-preview", "2024-06-01", "2024-08-01-preview",
                "2024-09-01-preview", "2024-10-21", "2025-01-01-preview"}
_FILTER_OK = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}


def azure_error(status: int, code: str, message: str) -> Refusal:
    return Refusal(web.json_response({"error": {"code": code, "message": message}}, status=status))


@dataclass
class FakeAzure(FakeServer):
    key: str = "azure-upstream-key"
    reply: str = "Hello from Azure"
    usage: tuple[int, int] = (17, 9)
    # deployment name -> the model it serves
    deployments: dict[str, str] = field(default_factory=lambda: {
        "gpt-35-turbo": "gpt-35-turbo", "gpt-4o": "gpt-4o", "text-embedding-3-small": "text-embedding-3-small",
        "dall-e-3": "dall-e-3"})
    tool_call: tuple[str, str] | None = ("get_weather", '{"city":"Paris"}')
    query_in_paths: ClassVar[bool] = True

    def fail_next(self, status: int, code: str, message: str) -> None:
        self.failures.append((status, {"error": {"code": code, "message": message}}))

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/openai/deployments/{deployment}/{task:.+}", self.dispatch),
                web.post("/openai/v1/responses", self.responses)]

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """The v1 Responses API: no api-version, the deployment named by the body's ``model``."""
        self.record(request)
        if request.headers.get("api-key") != self.key:
            raise azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint.")
        body = await request.json()
        self.requests.append(body)
        if body.get("model") not in self.deployments:
            raise azure_error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        tool_uses = [(self.tool_call[0], orjson.loads(self.tool_call[1]))] if self.tool_call else []
        return await serve_responses(request, body, self.reply, self.usage, tool_uses, 3)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        if request.headers.get("api-key") != self.key:
            raise azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. "
                               "Make sure to provide a valid key for an active subscription and use a correct "
                               "regional API endpoint for your resource.")
        version = request.query.get("api-version", "")
        if version not in API_VERSIONS:
            raise azure_error(404, "404", "Resource not found")
        model = self.deployments.get(request.match_info["deployment"])
        if model is None:
            raise azure_error(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If "
                               "you created the deployment within the last 5 minutes, please wait a moment and try "
                               "again.")
        body = await request.json()
        self.requests.append(body)
        if "stream_options" in body and version[:10] < "2024-09-01":
            return web.json_response({"error": {"message": "Unrecognized request argument supplied: stream_options",
                                                "type": "invalid_request_error", "param": None, "code": None}},
                                     status=400)
        if self.failures:
            status, payload = self.failures.pop(0)
            return web.json_response(payload, status=status)
        task = request.match_info["task"]
        if task == "chat/completions":
            return await self._chat(request, body, model)
        if task == "embeddings":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return web.json_response({
                "object": "list", "model": model,
                "data": [openai_embedding(body, i, sized([0.25, 0.5], body.get("dimensions")))
                         for i in range(len(inputs))],
                "usage": {"prompt_tokens": self.usage[0], "total_tokens": self.usage[0]}})
        if task == "images/generations":
            return web.json_response({"created": 1700000000, "data": [
                {"url": "https://fake.blob.core.windows.net/image.png", "revised_prompt": body.get("prompt"),
                 "content_filter_results": _FILTER_OK}]})
        raise azure_error(404, "404", "Resource not found")

    def _usage(self) -> dict[str, int]:
        return token_usage(*self.usage)

    def _message(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        if body.get("tools") and self.tool_call and body["messages"][-1].get("role") != "tool":
            name, arguments = self.tool_call
            call = {"id": "call_fake0", "type": "function", "function": {"name": name, "arguments": arguments}}
            return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        return {"role": "assistant", "content": structured_reply(body, self.reply)}, "stop"

    async def _chat(self, request: web.Request, body: dict[str, Any], model: str) -> web.StreamResponse:
        message, finish = self._message(body)
        base = {"id": "chatcmpl-azure", "created": 1700000000, "model": model, "system_fingerprint": "fp_fake"}
        prompt_filter = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "prompt_filter_results": prompt_filter,
                                      "choices": [{"index": 0, "message": message, "finish_reason": finish,
                                                   "content_filter_results": _FILTER_OK}],
                                      "usage": self._usage()})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        send = partial(sse_event, response)

        # Azure's first chunk: the prompt's content-filter verdict, no choices, empty id and model.
        await send({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                    "prompt_filter_results": prompt_filter})
        chunk = {**base, "object": "chat.completion.chunk"}
        await send({**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None, "content_filter_results": {}}]})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            await send({**chunk, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]},
                                              "finish_reason": None}]})
        else:
            for piece in (message["content"][:5], message["content"][5:]):
                await send({**chunk, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None,
                                                  "content_filter_results": _FILTER_OK}]})
        await send({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish,
                                          "content_filter_results": {}}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**chunk, "choices": [], "usage": self._usage()})
        await response.write(b"data: [DONE]\n\n")
        return response
