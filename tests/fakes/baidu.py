"""A fake Baidu Qianfan / Wenxin Workshop (aip.baidubce.com), written from Baidu's API documentation.

``POST /oauth/2.0/token?grant_type=client_credentials&client_id=AK&client_secret=SK`` issues access tokens
(``expires_in`` seconds, 30 days by default); an unknown AK or a wrong SK gets HTTP 401 ``invalid_client``.
Model calls take ``?access_token=`` and, as Baidu does, answer every failure with HTTP 200 and
``{"error_code", "error_msg"}``: 110 for a token never issued (or revoked), 111 for an expired one. Chat
bodies are checked the way ERNIE checks them (an odd number of alternating user/assistant turns, system text
in ``system``, temperature in (0, 1], penalty_score in [1, 2]). Usage numbers are the fake's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sse_event, token_usage

CHAT_ENDPOINTS = {"completions", "completions_pro", "eb-instant", "ernie_speed", "ernie-3.5-8k-0205",
                  "ernie-3.5-8k-1222", "ernie-3.5-4k-0205", "ernie_bot_8k", "ernie-speed-128k", "ernie-lite-8k",
                  "ernie-tiny-8k", "bloomz_7b1"}
EMBEDDING_ENDPOINTS = {"embedding-v1", "bge_large_zh", "bge_large_en", "tao_8k"}


@dataclass
class FakeBaidu(FakeServer):
    api_key: str = field(default_factory=lambda: secrets.token_hex(12))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    expires_in: int = 2592000
    reply: str = "Hello from ERNIE"
    usage: tuple[int, int] = (17, 9)  # (prompt, completion) reported
    embedding_tokens: int = 5
    hold_first_token: float = 0.0  # seconds the first token answer waits for a second token request
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (api key, expires at)
    token_requests: int = 0
    tokens_used: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    token_issued: asyncio.Event = field(default_factory=asyncio.Event)
    _second_token_request: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def key(self) -> str:
        """The channel key: ``AK|SK``."""
        return f"{self.api_key}|{self.secret_key}"

    def revoke_tokens(self) -> None:
        """Forget every issued token, as when Baidu rotates them: their next use gets error 110."""
        self.issued.clear()

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/oauth/2.0/token", self.token),
                web.post("/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/{endpoint}", self.chat),
                web.post("/rpc/2.0/ai_custom/v1/wenxinworkshop/embeddings/{endpoint}", self.embeddings)]

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        if self.token_requests == 2:
            self._second_token_request.set()
        elif self.token_requests == 1 and self.hold_first_token:
            # Give a concurrent request the chance to ask for a second token (it must not).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._second_token_request.wait(), self.hold_first_token)
        query = request.query
        if query.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type",
                                      "error_description": "The authorization grant type is not supported"},
                                     status=400)
        if query.get("client_id") != self.api_key:
            return web.json_response({"error": "invalid_client", "error_description": "unknown client id"},
                                     status=401)
        if query.get("client_secret") != self.secret_key:
            return web.json_response({"error": "invalid_client", "error_description": "Client authentication failed"},
                                     status=401)
        token = f"24.{secrets.token_hex(16)}.{self.expires_in}.{int(time.time())}-{secrets.randbelow(10**8)}"
        self.issued[token] = (self.api_key, time.time() + self.expires_in)
        self.token_issued.set()
        return web.json_response({
            "refresh_token": f"25.{secrets.token_hex(16)}", "expires_in": self.expires_in,
            "session_key": secrets.token_hex(16), "access_token": token,
            "scope": "public brain_all_scope wenxinworkshop_mgr", "session_secret": secrets.token_hex(16),
        })

    async def _body(self, request: web.Request, endpoints: set[str]) -> dict[str, Any]:
        """The body of a model call with a live access token to one of ``endpoints``."""
        self.endpoints.append(request.match_info["endpoint"])
        token = request.query.get("access_token", "")
        self.tokens_used.append(token)
        issued = self.issued.get(token)
        if issued is None:
            raise _error(110, "Access token invalid or no longer valid")
        if issued[1] <= time.time():
            raise _error(111, "Access token expired")
        if self.failures:
            raise _error(*self.failures.pop(0))  # (error_code, error_msg)
        if request.match_info["endpoint"] not in endpoints:
            raise _error(3, "Unsupported openapi method")
        body = await request.json()
        self.requests.append(body)
        return body

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request, CHAT_ENDPOINTS)
        invalid = _invalid_chat(body)
        if invalid:
            raise _error(336003, invalid)
        prompt, completion = self.usage
        base = {"id": f"as-{uuid.uuid4().hex[:10]}", "object": "chat.completion", "created": int(time.time())}
        if not body.get("stream"):
            return web.json_response({**base, "result": self.reply, "is_truncated": False,
                                      "need_clear_history": False, "finish_reason": "normal",
                                      "usage": token_usage(prompt, completion)})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        pieces = [self.reply[i : i + 6] for i in range(0, len(self.reply), 6)]
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            written = completion if last else (number + 1) * completion // len(pieces)
            event = {**base, "sentence_id": number, "is_end": last, "is_truncated": False, "result": piece,
                     "need_clear_history": False, "finish_reason": "normal", "usage": token_usage(prompt, written)}
            await sse_event(response, event)
        return response

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._body(request, EMBEDDING_ENDPOINTS)
        inputs = body.get("input")
        if not isinstance(inputs, list) or not 0 < len(inputs) <= 16 or not all(isinstance(i, str) for i in inputs):
            raise _error(336003, "input must be a list of 1 to 16 strings")
        return web.json_response({
            "id": f"as-{uuid.uuid4().hex[:10]}", "object": "embedding_list", "created": int(time.time()),
            "data": [{"object": "embedding", "embedding": [0.5, 0.25, -0.125], "index": i} for i in range(len(inputs))],
            "usage": {"prompt_tokens": self.embedding_tokens, "total_tokens": self.embedding_tokens},
        })


class FakeQianfanV2(FakeOpenAI):
    """Qianfan V2 is OpenAI's protocol under /v2 with a bearer API key; nothing answers under /v1."""

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v2/chat/completions", self.chat), web.post("/v2/embeddings", self.embeddings)]


def _invalid_chat(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) % 2 == 0:
        return "the length of messages must be an odd number"
    for position, message in enumerate(messages):
        expected = "user" if position % 2 == 0 else "assistant"
        if message.get("role") != expected or not isinstance(message.get("content"), str):
            return f"messages[{position}] must be a {expected} message with string content"
    temperature = body.get("temperature")
    if temperature is not None and not 0 < temperature <= 1:
        return "temperature range is (0, 1.0]"
    penalty = body.get("penalty_score")
    if penalty is not None and not 1 <= penalty <= 2:
        return "penalty_score range is [1.0, 2.0]"
    if "system" in body and not isinstance(body["system"], str):
        return "system must be a string"
    return ""


def _error(code: int, message: str) -> Refusal:
    """Baidu's failures come with HTTP 200."""
    return Refusal(web.json_response({"error_code": code, "error_msg": message}))
