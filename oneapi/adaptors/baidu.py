"""Baidu Wenxin / ERNIE (SPEC §4.8): an OAuth access token from ``AK|SK``, one endpoint per model.

Access tokens live for weeks, so they are fetched once per (OAuth host, key) and shared; a token close to
expiry is renewed in the background while requests keep using it, and concurrent requests never start a
second fetch for the same key. Baidu reports most failures inside an HTTP 200 answer (``error_code`` /
``error_msg``); those become real errors with a status a client can act on. A token Baidu no longer accepts
(110/111) is dropped and the request tried once more with a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from oneapi.adaptors.base import Completion, HttpAdaptor, RelayRequest, Upstream, UpstreamRequest
from oneapi.adaptors.shaping import message_text
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import channel_key_error, error_number, parse_json, status_for, try_json
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, embedding_list

logger = logging.getLogger(__name__)

REFRESH_MARGIN = 3600  # renew a token in the background once less than this many seconds are left
TOKEN_TIMEOUT = aiohttp.ClientTimeout(total=10)
TOKEN_REJECTED = frozenset({"110", "111"})  # access token invalid / expired (error codes are strings)

_ENDPOINTS = {
    "ERNIE-4.0": "completions_pro",
    "ERNIE-Bot-4": "completions_pro",
    "ERNIE-4.0-8K": "completions_pro",
    "ERNIE-Bot": "completions",
    "ERNIE-3.5-8K": "completions",
    "ERNIE-Bot-turbo": "eb-instant",
    "ERNIE-Lite-8K-0922": "eb-instant",
    "ERNIE-Speed": "ernie_speed",
    "ERNIE-Speed-8K": "ernie_speed",
    "ERNIE-3.5-8K-0205": "ernie-3.5-8k-0205",
    "ERNIE-3.5-8K-1222": "ernie-3.5-8k-1222",
    "ERNIE-3.5-4K-0205": "ernie-3.5-4k-0205",
    "ERNIE-Bot-8K": "ernie_bot_8k",
    "ERNIE-Speed-128K": "ernie-speed-128k",
    "ERNIE-Lite-8K-0308": "ernie-lite-8k",
    "ERNIE-Tiny-8K": "ernie-tiny-8k",
    "BLOOMZ-7B": "bloomz_7b1",
    "Embedding-V1": "embedding-v1",
    "bge-large-zh": "bge_large_zh",
    "bge-large-en": "bge_large_en",
    "tao-8k": "tao_8k",
}
_FINISH_REASONS = {"normal": "stop", "stop": "stop", "length": "length", "content_filter": "content_filter",
                   "function_call": "function_call"}

# error_code -> HTTP status (https://cloud.baidu.com/doc/WENXINWORKSHOP/s/tlmyncueh)
_STATUSES = (
    ({14, 110, 111}, 401),
    ({6, 15, 336004}, 403),
    ({4, 17, 18, 19, 336501, 336502, 336503}, 429),
    ({3, 100, 336001, 336002, 336003, 336005, 336006, 336007, 336103}, 400),
    ({2, 336100}, 503),
)


def baidu_error(code: Any, message: str) -> RelayError:
    number = error_number(code)
    return upstream_error(status_for(number, _STATUSES), message or f"baidu error {code}", "baidu_error",
                          number or code)


def endpoint(model: str) -> str:
    return _ENDPOINTS.get(model) or model.lower()


def is_embedding_model(model: str) -> bool:
    return model.startswith(("Embedding", "bge-large", "tao-8k"))


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float  # time.time() seconds
    fetched_at: float  # time.monotonic() when the answer arrived


class AccessTokens:
    """Access tokens per (OAuth host, AK|SK), with at most one fetch in flight per key."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._fetches: dict[tuple[str, str], asyncio.Task[_Token]] = {}

    async def get(self, http: aiohttp.ClientSession, upstream: Upstream) -> str:
        cache_key = (upstream.base_url, upstream.key)
        token = self._tokens.get(cache_key)
        left = token.expires_at - time.time() if token is not None else 0
        if token is not None and left > 0:
            if left < REFRESH_MARGIN:
                self._fetch(http, upstream, background=True)
            return token.value
        return (await asyncio.shield(self._fetch(http, upstream))).value

    def forget(self, upstream: Upstream, used_since: float) -> None:
        """Drop the cached token if it is the one a request started at ``used_since`` was refused with."""
        cache_key = (upstream.base_url, upstream.key)
        token = self._tokens.get(cache_key)
        if token is not None and token.fetched_at <= used_since:
            del self._tokens[cache_key]

    def _fetch(self, http: aiohttp.ClientSession, upstream: Upstream, background: bool = False) -> asyncio.Task[_Token]:
        cache_key = (upstream.base_url, upstream.key)
        task = self._fetches.get(cache_key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._request(http, upstream))
            self._fetches[cache_key] = task
            task.add_done_callback(lambda done: self._settle(cache_key, done, background))
        return task

    def _settle(self, cache_key: tuple[str, str], task: asyncio.Task[_Token], background: bool) -> None:
        self._fetches.pop(cache_key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._tokens[cache_key] = task.result()
        elif background:
            logger.warning("renewing a Baidu access token failed; the current one is used until it expires: %s",
                           getattr(error, "message", error))

    async def _request(self, http: aiohttp.ClientSession, upstream: Upstream) -> _Token:
        client_id, sep, client_secret = upstream.key.partition("|")
        if not sep or not client_id or not client_secret or "|" in client_secret:
            raise channel_key_error("the Baidu channel key must look like APIKey|SecretKey")
        params = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        async with http.post(f"{upstream.base_url}/oauth/2.0/token", params=params, timeout=TOKEN_TIMEOUT) as resp:
            raw = await resp.read()
            status = resp.status
        data = parse_json(raw, "Baidu access token answer")
        if not isinstance(data, dict) or not data.get("access_token"):
            data = data if isinstance(data, dict) else {}
            description = data.get("error_description") or data.get("error") or f"HTTP {status}"
            refused = status in (400, 401) or data.get("error") == "invalid_client"
            raise upstream_error(401 if refused else 502, f"Baidu refused the access token request: {description}",
                                 "baidu_error", data.get("error") or "access_token_failed")
        expires_in = float(data.get("expires_in") or 0) or 30 * 86400
        return _Token(str(data["access_token"]), time.time() + expires_in, time.monotonic())


def chat_body(req: RelayRequest) -> dict[str, Any]:
    """OpenAI chat -> ERNIE: system text moves to ``system``, sampling moves into ERNIE's ranges."""
    body = req.body
    system: list[str] = []
    messages: list[dict[str, str]] = []
    for message in body["messages"]:
        text = message_text(message.get("content"))
        role = message.get("role")
        if role == "system":
            system.append(text)
            continue
        role = "assistant" if role == "assistant" else "user"
        if messages and messages[-1]["role"] == role:
            # ERNIE wants strictly alternating turns (a tool result follows a user turn, for instance).
            messages[-1]["content"] += "\n" + text
        else:
            messages.append({"role": role, "content": text})
    out: dict[str, Any] = {"messages": messages, "stream": req.stream}
    if system:
        out["system"] = "\n".join(system)
    temperature = _number(body.get("temperature"))
    if temperature is not None:
        out["temperature"] = min(max(temperature, 0.01), 1.0)  # ERNIE: (0, 1]
    top_p = _number(body.get("top_p"))
    if top_p is not None:
        out["top_p"] = min(max(top_p, 0.0), 1.0)
    penalty = _number(body.get("frequency_penalty"))
    if penalty is not None:
        out["penalty_score"] = min(max(1.0 + penalty / 2, 1.0), 2.0)  # OpenAI [-2, 2] -> ERNIE [1, 2]
    if body.get("max_tokens"):
        out["max_output_tokens"] = body["max_tokens"]
    stop = body.get("stop")
    if stop:
        out["stop"] = [stop] if isinstance(stop, str) else stop
    if isinstance(body.get("user"), str):
        out["user_id"] = body["user"]
    return out


def _record_usage(req: RelayRequest, usage: Any) -> None:
    req.report_total_usage(usage, "prompt_tokens", "completion_tokens", "total_tokens")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class BaiduAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS})

    def __init__(self) -> None:
        self.tokens = AccessTokens()

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        token = await self.tokens.get(req.http.session, req.upstream)
        if req.mode == RelayMode.EMBEDDINGS:
            kind = "embeddings"
            text = req.body["input"]
            body: dict[str, Any] = {"input": [text] if isinstance(text, str) else text}
            if isinstance(req.body.get("user"), str):
                body["user_id"] = req.body["user"]
        else:
            kind = "embeddings" if is_embedding_model(req.model) else "chat"
            body = chat_body(req)
        url = f"{req.upstream.base_url}/rpc/2.0/ai_custom/v1/wenxinworkshop/{kind}/{endpoint(req.model)}"
        return UpstreamRequest(f"{url}?access_token={token}", {"Content-Type": "application/json"},
                               orjson.dumps(body))

    def body_error(self, data: Any) -> RelayError | None:
        if isinstance(data, dict) and (data.get("error_code") or data.get("error_msg")):
            return baidu_error(data.get("error_code"), str(data.get("error_msg") or ""))
        return None

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return self.body_error(try_json(raw)) or super().parse_error(status, raw)

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        _record_usage(req, data.get("usage"))
        if req.mode == RelayMode.EMBEDDINGS:
            return embedding_list(req, ((item.get("index", i), item.get("embedding"))
                                        for i, item in enumerate(data.get("data") or ())))
        finish = _FINISH_REASONS.get(str(data.get("finish_reason") or "normal"), "stop")
        return chat_completion(req, str(data.get("id") or ""),
                               {"role": "assistant", "content": str(data.get("result") or "")}, finish)

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        first = True
        async for data in self.json_events(resp, "ERNIE stream event"):
            _record_usage(req, data.get("usage"))
            text = str(data.get("result") or "")
            req.completion_text.append(text)
            delta = {"role": "assistant", "content": text} if first else {"content": text}
            first = False
            finish = _FINISH_REASONS.get(str(data.get("finish_reason") or "normal"), "stop") \
                if data.get("is_end") else None
            yield chat_chunk(req, str(data.get("id") or ""), delta, finish)

    async def complete(self, req: RelayRequest) -> Completion:
        started = time.monotonic()
        try:
            return await super().complete(req)
        except RelayError as error:
            if error.code not in TOKEN_REJECTED:
                raise
        self.tokens.forget(req.upstream, started)
        return await super().complete(req)

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        started = time.monotonic()
        events = super().stream(req)
        try:
            first = await anext(events, None)
        except RelayError as error:
            if error.code not in TOKEN_REJECTED:
                raise
            self.tokens.forget(req.upstream, started)
            events = super().stream(req)
            first = await anext(events, None)
        try:
            if first is not None:
                yield first
                async for event in events:
                    yield event
        finally:
            await events.aclose()


ADAPTOR = BaiduAdaptor()
