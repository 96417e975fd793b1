"""Xunfei Spark over WebSocket (SPEC §4.9): a signed URL, one request frame (text, JSON), answer frames until
status 2. Every version from v1.1 (Lite) to v4.0 (4.0 Ultra) is reached by its model name; Spark's HTTP
OpenAI-compatible endpoint is the separate channel type XUNFEI_V2, relayed by the OpenAI adaptor.

The URL is signed (HMAC-SHA256 over ``host``, ``date`` and the request line) for the host and path actually
dialled: the channel's base URL replaces ``wss://spark-api.xf-yun.com``. The API version and its ``domain``
come from the model name. Unlike One API, a frame whose ``header.code`` is not 0 is an error, ``top_k`` is
only sent when the client gave one, and OpenAI tools travel as Spark ``functions``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncGenerator
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson

from oneapi.adaptors.base import Adaptor, Completion, RelayRequest, off_loop_if_large
from oneapi.adaptors.shaping import message_text
from oneapi.adaptors.upstream_errors import channel_key_error, parse_json, status_for
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, new_id, sse, usage_chunk

HANDSHAKE_TIMEOUT = 10  # seconds for the TCP + TLS + upgrade
_MODEL_VERSIONS = {
    "Spark-Lite": "v1.1",
    "Spark-Pro": "v3.1",
    "Spark-Pro-128K": "v3.1-128K",
    "Spark-Max": "v3.5",
    "Spark-Max-32K": "v3.5-32K",
    "Spark-4.0-Ultra": "v4.0",
}
_DOMAINS = {
    "v1.1": "lite",
    "v2.1": "generalv2",
    "v3.1": "generalv3",
    "v3.1-128K": "pro-128k",
    "v3.5": "generalv3.5",
    "v3.5-32K": "max-32k",
    "v4.0": "4.0Ultra",
}
_PATHS = {"v3.1-128K": "/chat/pro-128k", "v3.5-32K": "/chat/max-32k"}
_FUNCTION_DOMAINS = ("generalv3", "4.0Ultra")  # the domains that accept payload.functions

# header.code -> HTTP status (https://www.xfyun.cn/doc/spark/接口说明.html)
_STATUSES = (
    ({10015, 10016, 11200}, 403),  # blacklisted app, no licence for this model or version
    ({10006, 10007, 11201, 11202, 11203}, 429),  # concurrency, daily and per-second limits
    ({10003, 10004, 10005, 10013, 10014, 10019, 10021, 10022, 10163, 10907}, 400),
    ({10008, 10110}, 503),  # busy
)


def spark_error(code: Any, message: str) -> RelayError:
    number = int(code) if isinstance(code, int) or str(code).isdigit() else 0
    return upstream_error(status_for(number, _STATUSES), f"Spark error {code}: {message}", "xunfei_error",
                          number or code)


def api_version(req: RelayRequest) -> str:
    model = req.model
    if model in _MODEL_VERSIONS:
        return _MODEL_VERSIONS[model]
    _, dash, suffix = model.partition("-")
    if dash and suffix:
        return suffix
    return req.upstream.config.get("api_version") or "v1.1"


def domain(version: str) -> str:
    return _DOMAINS.get(version, f"general{version}")


def signed_url(base_url: str, path: str, api_key: str, api_secret: str, now: float) -> tuple[str, str]:
    """The URL to dial and the Host header it was signed for (both from the base URL actually used)."""
    parts = urlsplit(base_url)
    host = parts.netloc
    path = parts.path.rstrip("/") + path
    date = formatdate(now, usegmt=True)
    origin = f"host: {host}\ndate: {date}\nGET {path} HTTP/1.1"
    signature = base64.b64encode(hmac.new(api_secret.encode(), origin.encode(), hashlib.sha256).digest()).decode()
    authorization = (f'api_key="{api_key}", algorithm="hmac-sha256", headers="host date request-line", '
                     f'signature="{signature}"')
    query = urlencode({"authorization": base64.b64encode(authorization.encode()).decode(), "date": date,
                       "host": host})
    return f"{parts.scheme}://{host}{path}?{query}", host


def handshake_error(status: int) -> RelayError:
    """Spark's gateway answers a bad signature, an unknown key or a stale date with 401/403 before upgrading."""
    if status in (401, 403):
        return upstream_error(401, f"Xunfei refused the connection (HTTP {status}): the signature or its date was "
                                   "not accepted; check the key APPID|APISecret|APIKey", "xunfei_error", "invalid_auth")
    return upstream_error(status if status >= 400 else 502, f"Xunfei refused the connection: HTTP {status}",
                          "xunfei_error")


def credentials(key: str) -> tuple[str, str, str]:
    parts = key.split("|")
    if len(parts) != 3 or not all(parts):
        raise channel_key_error("the Xunfei channel key must look like APPID|APISecret|APIKey")
    return parts[0], parts[1], parts[2]


def request_frame(req: RelayRequest, app_id: str, spark_domain: str) -> dict[str, Any]:
    body = req.body
    chat: dict[str, Any] = {"domain": spark_domain}
    temperature = body.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        chat["temperature"] = min(max(float(temperature), 0.01), 1.0)  # Spark: (0, 1]
    top_k = body.get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool):
        chat["top_k"] = min(max(top_k, 1), 6)
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    if max_tokens:
        chat["max_tokens"] = max_tokens
    payload: dict[str, Any] = {"message": {"text": [_spark_message(m) for m in body["messages"]]}}
    functions = [tool["function"] for tool in body.get("tools") or ()
                 if isinstance(tool, dict) and isinstance(tool.get("function"), dict)]
    functions += [f for f in body.get("functions") or () if isinstance(f, dict)]
    if functions and body.get("tool_choice") != "none" and spark_domain.startswith(_FUNCTION_DOMAINS):
        payload["functions"] = {"text": functions}
    header = {"app_id": app_id}
    if isinstance(body.get("user"), str) and body["user"]:
        header["uid"] = body["user"][:32]
    return {"header": header, "parameter": {"chat": chat}, "payload": payload}


def _spark_message(message: dict[str, Any]) -> dict[str, str]:
    """Spark knows system, user and assistant turns: a tool call is said by the assistant, its result by the user."""
    role = message.get("role")
    text = message_text(message.get("content"))
    if role == "assistant":
        calls = message.get("tool_calls") or ([{"function": message["function_call"]}]
                                              if isinstance(message.get("function_call"), dict) else [])
        said = [orjson.dumps({"function_call": call.get("function")}).decode() for call in calls
                if isinstance(call, dict)]
        return {"role": "assistant", "content": "\n".join([text, *said]) if text else "\n".join(said)}
    if role in ("tool", "function"):
        return {"role": "user", "content": text}
    return {"role": "system" if role == "system" else "user", "content": text}


class _Turn:
    """What the frames of one answer add up to: text, a function call, usage, and the chunks for a stream."""

    def __init__(self, req: RelayRequest) -> None:
        self.req = req
        self.id = new_id()
        self.text: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.started = False

    def add(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Record one answer frame and return it as an OpenAI chunk."""
        payload = frame.get("payload") or {}
        choices = payload.get("choices") or {}
        delta: dict[str, Any] = {} if self.started else {"role": "assistant"}
        self.started = True
        content = ""
        for item in choices.get("text") or ():
            content += str(item.get("content") or "")
            call = item.get("function_call")
            if isinstance(call, dict):
                tool_call = {"id": f"call_{new_id('')}", "type": "function",
                             "function": {"name": call.get("name", ""), "arguments": call.get("arguments", "")}}
                delta.setdefault("tool_calls", []).append({"index": len(self.tool_calls), **tool_call})
                self.tool_calls.append(tool_call)
        if content:
            self.text.append(content)
            self.req.completion_text.append(content)
        delta["content"] = content
        usage = (payload.get("usage") or {}).get("text")
        if isinstance(usage, dict):
            self.req.report_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        last = (frame.get("header") or {}).get("status") == 2
        return chat_chunk(self.req, self.id, delta, self.finish_reason if last else None)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class XunfeiAdaptor(Adaptor):
    modes = frozenset({RelayMode.CHAT})

    async def frames(self, req: RelayRequest) -> AsyncGenerator[dict[str, Any], None]:
        """The answer frames, from the first to the one with ``choices.status == 2``."""
        app_id, api_secret, api_key = credentials(req.upstream.key)
        version = api_version(req)
        url, host = signed_url(req.upstream.base_url, _PATHS.get(version, f"/{version}/chat"), api_key, api_secret,
                               time.time())
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                ws = await req.http.session.ws_connect(url, headers={"Host": host})
        except aiohttp.WSServerHandshakeError as exc:
            raise handshake_error(exc.status) from None
        deadline = time.monotonic() + req.timeout.total if req.timeout.total else None
        async with ws:
            # Spark reads the request only from a TEXT frame of JSON; a binary frame closes the connection.
            await ws.send_str(orjson.dumps(request_frame(req, app_id, domain(version))).decode())
            while True:
                message = await ws.receive(timeout=max(deadline - time.monotonic(), 0) if deadline else None)
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
                frame = parse_json(message.data if isinstance(message.data, bytes) else message.data.encode(),
                                   "Spark frame")
                if not isinstance(frame, dict):
                    continue
                header = frame.get("header") or {}
                if header.get("code", 0) != 0:
                    raise spark_error(header.get("code"), str(header.get("message") or ""))
                yield frame
                if header.get("status") == 2:
                    return
        raise RelayError("Xunfei closed the connection before the answer was complete", status=502,
                         type="upstream_error", code="xunfei_connection_closed", retryable=True, upstream=True)

    async def complete(self, req: RelayRequest) -> Completion:
        turn = _Turn(req)
        async for frame in self.frames(req):
            turn.add(frame)
        if not turn.text and not turn.tool_calls:
            raise RelayError("Xunfei answered with no text", status=500, type="upstream_error",
                             code="xunfei_empty_response_detected", retryable=True, upstream=True)
        message: dict[str, Any] = {"role": "assistant", "content": "".join(turn.text)}
        if turn.tool_calls:
            message["tool_calls"] = turn.tool_calls
        if not req.usage.reported:
            text = "".join(turn.text)
            await off_loop_if_large(len(text), req.estimate_usage, text)
        return Completion(orjson.dumps(chat_completion(req, turn.id, message, turn.finish_reason)))

    async def stream(self, req: RelayRequest) -> AsyncGenerator[bytes, None]:
        turn = _Turn(req)
        frames = self.frames(req)
        try:
            async for frame in frames:
                yield sse(turn.add(frame))
        finally:
            await frames.aclose()
        await req.estimate_streamed_usage()
        if req.include_usage:
            yield sse(usage_chunk(req, turn.id))


ADAPTOR = XunfeiAdaptor()
