"""A fake Cloudflare Workers AI account, written from Cloudflare's Workers AI and API documentation.

Serves the OpenAI-compatible endpoints under ``/client/v4/accounts/<account_id>/ai/v1/`` (chat completions,
streamed or not, and embeddings). Auth is ``Authorization: Bearer <API token>``: a wrong token gets 401 and a
token for another account 403, both with Cloudflare's envelope ``{"success": false, "errors": [{"code",
"message"}], "messages": [], "result": null}``; an unknown model is a 400 ``AiError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sse_event, token_usage


def _failure(status: int, code: int, message: str) -> Refusal:
    return Refusal(web.json_response({"success": False, "errors": [{"code": code, "message": message}],
                                      "messages": [], "result": None}, status=status))


@dataclass
class FakeWorkersAI(FakeServer):
    token: str = "cf-token"
    account_id: str = "0123456789abcdef0123456789abcdef"
    models: tuple[str, ...] = ("@cf/meta/llama-3-8b-instruct", "@cf/baai/bge-base-en-v1.5")
    reply: str = "Hello from Workers AI"
    usage: tuple[int, int] = (17, 6)
    embedding_tokens: int = 4

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/client/v4/accounts/{account}/ai/v1/chat/completions", self.chat),
                web.post("/client/v4/accounts/{account}/ai/v1/embeddings", self.embeddings)]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """The body of a call with the account's token, for a model the account has."""
        self.record(request)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise _failure(401, 10000, "Authentication error")
        if request.match_info["account"] != self.account_id:
            raise _failure(403, 10000, "Authentication error")
        body = orjson.loads(await request.read())
        self.requests.append(body)
        if body.get("model") not in self.models:
            raise _failure(400, 5007, f"AiError: No such model {body.get('model')} or task")
        return body

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            raise _failure(400, 5006, "AiError: Error: required properties at '/' are 'messages'")
        prompt, completion = self.usage
        usage = token_usage(prompt, completion)
        base = {"id": "id-1712345678901", "created": 1712345678, "model": body["model"]}
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.reply}, "finish_reason": "stop"}]})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = self.reply.split(" ")
        for number, word in enumerate(words, 1):
            piece = word if number == len(words) else word + " "
            await sse_event(response, {**base, "object": "chat.completion.chunk", "choices": [
                {"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        await sse_event(response, {**base, "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await sse_event(response, {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        return web.json_response({"object": "list", "model": body["model"],
                                  "data": [{"object": "embedding", "index": i, "embedding": [0.5, 0.25, float(i)]}
                                           for i in range(len(inputs))],
                                  "usage": {"prompt_tokens": self.embedding_tokens,
                                            "total_tokens": self.embedding_tokens}})
