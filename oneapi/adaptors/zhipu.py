"""Zhipu ChatGLM (SPEC §4.7): a short-lived JWT made from the ``id.secret`` key, and two API generations.

The v4 API (glm-* chat, embeddings, images) speaks OpenAI's wire format, so ``ZhipuAdaptor`` is the OpenAI
adaptor with another URL, another credential and Zhipu's narrower sampling ranges; streaming and usage are
the OpenAI adaptor's. The older chatglm_* models live on the v3 ``invoke`` / ``sse-invoke`` API, whose
answers and event stream differ; ``ZhipuV3`` converts those.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson

from oneapi.adaptors.base import Completion, HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.openai import OpenAIAdaptor
from oneapi.adaptors.shaping import message_text
from oneapi.adaptors.streams import iter_lines
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import channel_key_error, error_number, parse_json, status_for
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion

JWT_LIFETIME = 3600  # seconds a signed token stays valid
JWT_RENEW_MARGIN = 300  # sign a new one when less than this is left, so no request carries an expiring token
# Zhipu rejects the ends of these ranges (0 and 1 are outside its open intervals).
SAMPLING_MIN, SAMPLING_MAX = 0.01, 0.99

_V4_PATHS = {
    RelayMode.CHAT: "/api/paas/v4/chat/completions",
    RelayMode.EMBEDDINGS: "/api/paas/v4/embeddings",
    RelayMode.IMAGES: "/api/paas/v4/images/generations",
}


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign_jwt(api_id: str, secret: str, now: float) -> str:
    """Zhipu's token: HS256 with header ``sign_type: SIGN`` and millisecond ``exp`` / ``timestamp`` claims."""
    now_ms = int(now * 1000)
    header = _b64url(orjson.dumps({"alg": "HS256", "sign_type": "SIGN"}))
    claims = _b64url(orjson.dumps({"api_key": api_id, "exp": now_ms + JWT_LIFETIME * 1000, "timestamp": now_ms}))
    signing_input = header + b"." + claims
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64url(signature)).decode()


class JwtCache:
    """One token per channel key, reused until it comes close to expiry: signing per request is wasted work."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, key: str) -> str:
        now = time.time()
        cached = self._tokens.get(key)
        if cached is not None and cached[1] - now > JWT_RENEW_MARGIN:
            return cached[0]
        api_id, dot, secret = key.partition(".")
        if not dot or not api_id or not secret or "." in secret:
            raise channel_key_error("the Zhipu channel key must look like id.secret")
        token = sign_jwt(api_id, secret, now)
        self._tokens[key] = (token, now + JWT_LIFETIME)
        return token


# business code -> HTTP status, for answers that themselves said 200
_STATUSES = (
    (range(1000, 1005), 401),  # missing, malformed, expired or unverifiable token
    ({1100}, 401),
    (range(1110, 1122), 403),  # account locked, in arrears, not allowed
    (range(1302, 1306), 429),  # rate or concurrency limit
    (range(1200, 1302), 400),  # invalid parameters, prompt too long, content filtered
)


def zhipu_error(code: Any, message: str, status: int | None = None) -> RelayError:
    """Zhipu's business codes -> the HTTP status a client expects (used when the answer itself said 200)."""
    if status is None or status == 200:
        status = status_for(error_number(code), _STATUSES)
    return upstream_error(status, message or f"zhipu error {code}", "zhipu_error", code)


def clamp_sampling(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI allows temperature up to 2 and top_p of 0 or 1; Zhipu refuses anything outside (0, 1)."""
    clamped = dict(body)
    for name in ("temperature", "top_p"):
        value = clamped.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            clamped[name] = min(max(float(value), SAMPLING_MIN), SAMPLING_MAX)
    return clamped


def is_v3(req: RelayRequest) -> bool:
    return req.mode == RelayMode.CHAT and req.model.startswith("chatglm_")


class ZhipuV3(HttpAdaptor):
    """chatglm_* on ``/api/paas/v3/model-api/<model>/invoke`` (JSON) and ``/sse-invoke`` (event stream)."""

    def __init__(self, jwts: JwtCache) -> None:
        self.jwts = jwts

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        action = "sse-invoke" if req.stream else "invoke"
        body = clamp_sampling(req.body)
        prompt = [{"role": "assistant" if m.get("role") == "assistant" else "user",
                   "content": message_text(m.get("content"))} for m in body["messages"]]
        payload: dict[str, Any] = {"prompt": prompt, "incremental": True}
        for name in ("temperature", "top_p"):
            if name in body:
                payload[name] = body[name]
        headers = {"Authorization": self.jwts.token(req.upstream.key), "Content-Type": "application/json",
                   "Accept": "text/event-stream" if req.stream else "application/json"}
        url = f"{req.upstream.base_url}/api/paas/v3/model-api/{req.model}/{action}"
        return UpstreamRequest(url, headers, orjson.dumps(payload))

    def body_error(self, data: Any) -> RelayError | None:
        if isinstance(data, dict) and data.get("success") is not True:
            return zhipu_error(data.get("code"), str(data.get("msg") or ""))
        return None

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        result = data.get("data") or {}
        usage = result.get("usage") or {}
        req.report_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        content = "".join(_unquote(str(choice.get("content") or "")) for choice in result.get("choices") or ())
        return chat_completion(req, str(result.get("task_id") or ""), {"role": "assistant", "content": content},
                               "stop")

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        event: dict[str, Any] = {"data": []}
        async for line in iter_lines(resp):
            if line:
                name, _, value = line.decode(errors="replace").partition(":")
                if name == "data":
                    event["data"].append(value)
                elif name in ("event", "id", "meta"):
                    event[name] = value.strip()
                continue
            for chunk in self._event_chunks(req, event):
                yield chunk
            event = {"data": []}
        for chunk in self._event_chunks(req, event):
            yield chunk

    def _event_chunks(self, req: RelayRequest, event: dict[str, Any]) -> list[dict[str, Any]]:
        """One v3 event (``add`` text, ``finish`` with ``meta`` usage, ``error``/``interrupted``) -> chunks."""
        kind = event.get("event", "add" if event["data"] else "")
        text = "\n".join(event["data"])
        chunk_id = str(event.get("id") or "")
        if kind in ("error", "interrupted"):
            raise zhipu_error(kind, text or f"the stream was {kind}")
        chunks = []
        if text:
            req.completion_text.append(text)
            chunks.append(chat_chunk(req, chunk_id, {"role": "assistant", "content": text}))
        if "meta" in event:
            meta = parse_json(event["meta"].encode(), "sse-invoke meta event")
            meta = meta if isinstance(meta, dict) else {}
            usage = meta.get("usage") or {}
            req.report_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
            chunks.append(chat_chunk(req, str(meta.get("request_id") or chunk_id), {}, "stop"))
        return chunks


def _unquote(content: str) -> str:
    """v3 returns the content as a JSON string literal, quotes and escapes included."""
    if len(content) >= 2 and content[0] == content[-1] == '"':
        try:
            decoded = orjson.loads(content)
        except orjson.JSONDecodeError:
            return content[1:-1]
        return decoded if isinstance(decoded, str) else content[1:-1]
    return content


class ZhipuAdaptor(OpenAIAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS, RelayMode.IMAGES})

    def __init__(self) -> None:
        self.jwts = JwtCache()
        self.v3 = ZhipuV3(self.jwts)

    def url(self, req: RelayRequest) -> str:
        return req.upstream.base_url + _V4_PATHS[req.mode]

    def headers(self, req: RelayRequest) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwts.token(req.upstream.key)}", "Content-Type": "application/json",
                "Accept": "text/event-stream" if req.stream else "application/json"}

    def body(self, req: RelayRequest) -> bytes:
        body = req.body
        if req.mode == RelayMode.CHAT:
            # v4 reports usage in its last chunk unasked, so stream_options is not needed.
            return orjson.dumps(clamp_sampling(body))
        if req.mode == RelayMode.EMBEDDINGS:
            # Zhipu returns floats only; the OpenAI SDK's default base64 request is not understood.
            return orjson.dumps({k: body[k] for k in ("model", "input", "dimensions") if k in body})
        image: dict[str, Any] = {"model": req.model, "prompt": body.get("prompt")}
        if body.get("size"):
            image["size"] = body["size"]
        if body.get("user"):
            image["user_id"] = body["user"]
        return orjson.dumps(image)

    async def complete(self, req: RelayRequest) -> Completion:
        if is_v3(req):
            return await self.v3.complete(req)
        return await super().complete(req)

    def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        return self.v3.stream(req) if is_v3(req) else super().stream(req)


ADAPTOR = ZhipuAdaptor()
