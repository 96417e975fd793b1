"""A fake Ollama server (``/api/chat``, ``/api/embed``), written from Ollama's API documentation.

Ollama has no authentication, so the fake checks what Ollama checks: a known model (else 404 ``model "x"
not found``), well-formed messages and options, base64 images. Streams are NDJSON: one JSON object per
line, the last with ``done: true`` and the token counts (``prompt_eval_count``, ``eval_count``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sized

CREATED_AT = "2024-07-22T20:33:28.123648Z"
_ROLES = {"system", "user", "assistant", "tool"}
_OPTIONS = {"num_keep", "seed", "num_predict", "top_k", "top_p", "min_p", "typical_p", "repeat_last_n",
            "temperature", "repeat_penalty", "presence_penalty", "frequency_penalty", "mirostat", "mirostat_tau",
            "mirostat_eta", "penalize_newline", "stop", "numa", "num_ctx", "num_batch", "num_gpu", "main_gpu",
            "low_vram", "vocab_only", "use_mmap", "use_mlock", "num_thread"}


def _error(status: int, message: str) -> Refusal:
    return Refusal(web.json_response({"error": message}, status=status))


@dataclass
class FakeOllama(FakeServer):
    models: tuple[str, ...] = ("llama3:latest", "nomic-embed-text")
    reply: str = "Hello from Ollama"
    usage: tuple[int, int] = (26, 8)  # (prompt_eval_count, eval_count)
    embedding_tokens: int = 6
    chunks: int = 3

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/chat", self.chat), web.post("/api/embed", self.embed)]

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """A JSON object naming a model this server has, with options Ollama knows."""
        self.record(request)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise _error(400, "invalid character in request body") from None
        if not isinstance(body, dict):
            raise _error(400, "the request body must be a JSON object")
        self.requests.append(body)
        model = body.get("model")
        if not model:
            raise _error(400, "model is required")
        if model not in self.models:
            raise _error(404, f'model "{model}" not found, try pulling it first')
        options = body.get("options", {})
        unknown = set(options) - _OPTIONS if isinstance(options, dict) else {"<not an object>"}
        if unknown:
            raise _error(400, f"invalid options: {', '.join(sorted(unknown))}")
        return body

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        messages = body.get("messages")
        problem = _invalid_messages(messages)
        if problem:
            raise _error(400, problem)
        prompt, completion = self.usage
        final = {"done_reason": "stop", "done": True, "total_duration": 5191566416, "load_duration": 2154458,
                 "prompt_eval_count": prompt, "prompt_eval_duration": 383809000, "eval_count": completion,
                 "eval_duration": 4799921000}
        if body.get("stream", True) is False:
            return web.json_response({"model": body["model"], "created_at": CREATED_AT,
                                      "message": {"role": "assistant", "content": self.reply}, **final})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        size = max(1, -(-len(self.reply) // self.chunks))
        for start in range(0, len(self.reply), size):
            line = {"model": body["model"], "created_at": CREATED_AT,
                    "message": {"role": "assistant", "content": self.reply[start : start + size]}, "done": False}
            await response.write(orjson.dumps(line) + b"\n")
        await response.write(orjson.dumps({"model": body["model"], "created_at": CREATED_AT,
                                           "message": {"role": "assistant", "content": ""}, **final}) + b"\n")
        return response

    async def embed(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(text, str) for text in inputs):
            raise _error(400, "invalid input type")
        return web.json_response({"model": body["model"],
                                  "embeddings": [sized([0.01 * i, -0.02, 0.03], body.get("dimensions"))
                                                 for i in range(len(inputs))],
                                  "total_duration": 14143917, "load_duration": 1019500,
                                  "prompt_eval_count": self.embedding_tokens})


def _invalid_messages(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        return "messages are required"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return "invalid message role"
        if not isinstance(message.get("content", ""), str):
            return "json: cannot unmarshal array into Go struct field Message.messages.content of type string"
        for image in message.get("images") or ():
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, ValueError):
                return "illegal base64 data in images"
    return ""
