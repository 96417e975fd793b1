"""Tencent Hunyuan (SPEC §4.12): Tencent Cloud API 3.0 calls signed with TC3-HMAC-SHA256.

Every call is ``POST <base>/`` with the action in ``X-TC-Action``. The signature covers the Host header, so
it is computed for the host of the channel's base URL (One API signs a hard-coded host and cannot reach any
other endpoint). Failures come back with HTTP 200 as ``Response.Error``; they are mapped to real statuses.
Usage is Hunyuan's own count, streams included (every stream event carries the running ``Usage``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from oneapi.adaptors.base import HttpAdaptor, RelayRequest, UpstreamRequest
from oneapi.adaptors.shaping import message_text
from oneapi.adaptors.transport import Answer
from oneapi.adaptors.upstream_errors import channel_key_error, try_json
from oneapi.constants import RelayMode
from oneapi.errors import RelayError, upstream_error
from oneapi.wire.openai_chat import chat_chunk, chat_completion, embedding_list

API_VERSION = "2023-09-01"
SERVICE = "hunyuan"
SIGNED_HEADERS = "content-type;host;x-tc-action"
CONTENT_TYPE = "application/json"

# Response.Error.Code prefix -> HTTP status (https://cloud.tencent.com/document/api/1729/101845)
_STATUS_BY_PREFIX = (
    ("AuthFailure", 401),
    ("UnauthorizedOperation", 403),
    ("ResourceInsufficient", 403),
    ("OperationDenied", 403),
    ("RequestLimitExceeded", 429),
    ("LimitExceeded", 429),
    ("InvalidParameter", 400),
    ("MissingParameter", 400),
    ("UnknownParameter", 400),
    ("InvalidAction", 400),
    ("UnsupportedOperation", 400),
    ("ResourceUnavailable", 503),
)


def hunyuan_error(error: dict[str, Any]) -> RelayError:
    code = str(error.get("Code") or "InternalError")
    status = next((status for prefix, status in _STATUS_BY_PREFIX if code.startswith(prefix)), 500)
    return upstream_error(status, str(error.get("Message") or code), "tencent_error", code)


def credentials(key: str) -> tuple[str, str]:
    parts = key.split("|")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1] or not parts[2]:
        raise channel_key_error("the Tencent channel key must look like AppId|SecretId|SecretKey (AppId is a number)")
    return parts[1], parts[2]


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def tc3_authorization(secret_id: str, secret_key: str, host: str, action: str, body: bytes, timestamp: int) -> str:
    """The ``Authorization`` header of Tencent Cloud's signature v3 for one POST to ``/``."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host.lower()}\nx-tc-action:{action.lower()}\n"
    canonical_request = "\n".join(["POST", "/", "", canonical_headers, SIGNED_HEADERS,
                                   hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    signing_key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, "
            f"Signature={signature}")


def chat_body(req: RelayRequest) -> dict[str, Any]:
    body = req.body
    out: dict[str, Any] = {
        "Model": req.model,
        "Messages": [{"Role": m.get("role") if m.get("role") in ("system", "assistant") else "user",
                      "Content": message_text(m.get("content"))} for m in body["messages"]],
        "Stream": req.stream,
    }
    for name, field in (("top_p", "TopP"), ("temperature", "Temperature")):
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[field] = value
    return out


def _record_usage(req: RelayRequest, usage: Any) -> None:
    """Hunyuan's counts; embeddings report prompt tokens only, and are billed for them."""
    req.report_total_usage(usage, "PromptTokens", "CompletionTokens", "TotalTokens")


class TencentAdaptor(HttpAdaptor):
    modes = frozenset({RelayMode.CHAT, RelayMode.EMBEDDINGS})

    async def prepare(self, req: RelayRequest) -> UpstreamRequest:
        secret_id, secret_key = credentials(req.upstream.key)
        if req.mode == RelayMode.EMBEDDINGS:
            action = "GetEmbedding"
            text = req.body["input"]
            payload: dict[str, Any] = {"InputList": [text] if isinstance(text, str) else text}
        else:
            action = "ChatCompletions"
            payload = chat_body(req)
        body = orjson.dumps(payload)
        host = urlsplit(req.upstream.base_url).netloc
        timestamp = int(time.time())
        headers = {
            "Authorization": tc3_authorization(secret_id, secret_key, host, action, body, timestamp),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": action,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
        }
        return UpstreamRequest(req.upstream.base_url + "/", headers, body)

    def body_error(self, data: Any) -> RelayError | None:
        response = data.get("Response", data) if isinstance(data, dict) else None
        error = response.get("Error") if isinstance(response, dict) else None
        return hunyuan_error(error) if isinstance(error, dict) and error.get("Code") else None

    def parse_error(self, status: int, raw: bytes) -> RelayError:
        return self.body_error(try_json(raw)) or super().parse_error(status, raw)

    def convert(self, req: RelayRequest, data: Any) -> dict[str, Any]:
        response = data.get("Response") or {}
        _record_usage(req, response.get("Usage"))
        if req.mode == RelayMode.EMBEDDINGS:
            return embedding_list(req, ((item.get("Index", i), item.get("Embedding"))
                                        for i, item in enumerate(response.get("Data") or ())))
        choice = (response.get("Choices") or [{}])[0]
        message = choice.get("Message") or {}
        return chat_completion(req, str(response.get("Id") or response.get("RequestId") or ""),
                               {"role": "assistant", "content": str(message.get("Content") or "")},
                               choice.get("FinishReason") or "stop")

    async def convert_stream(self, req: RelayRequest, resp: Answer) -> AsyncIterator[dict[str, Any]]:
        first = True
        async for data in self.json_events(resp, "Hunyuan stream event"):
            _record_usage(req, data.get("Usage"))
            for choice in data.get("Choices") or ():
                text = str((choice.get("Delta") or {}).get("Content") or "")
                req.completion_text.append(text)
                delta = {"role": "assistant", "content": text} if first else {"content": text}
                first = False
                yield chat_chunk(req, str(data.get("Id") or ""), delta, choice.get("FinishReason") or None)


ADAPTOR = TencentAdaptor()
