"""A fake Tencent Hunyuan API (hunyuan.tencentcloudapi.com, version 2023-09-01), from Tencent Cloud's docs.

Every call is ``POST /`` with ``X-TC-Action``, ``X-TC-Timestamp``, ``X-TC-Version`` and a TC3-HMAC-SHA256
``Authorization``. The fake recomputes the signature from the request it received — the signed headers' actual
values (the Host header included), the SHA-256 of the body, the timestamp — with the SecretKey of the SecretId in
the credential, and answers, with HTTP 200 as Tencent Cloud does, ``Response.Error`` = AuthFailure.SecretIdNotFound,
AuthFailure.SignatureExpire (more than 300 s off) or AuthFailure.SignatureFailure. ChatCompletions streams are SSE
events without the ``Response`` envelope, each carrying the running ``Usage``. Usage numbers are the fake's own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sse_event

VERSION = "2023-09-01"


@dataclass
class FakeTencent(FakeServer):
    app_id: str = "1300000001"
    secret_id: str = field(default_factory=lambda: "AKID" + secrets.token_hex(16))
    secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    reply: str = "Hello from Hunyuan"
    usage: tuple[int, int] = (19, 11)  # (prompt, completion) reported
    embedding_tokens: int = 7
    actions: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The channel key: ``AppId|SecretId|SecretKey``."""
        return f"{self.app_id}|{self.secret_id}|{self.secret_key}"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/", self.call)]

    def _signature_problem(self, request: web.Request, body: bytes) -> tuple[str, str] | None:
        fields = _authorization_fields(request.headers.get("Authorization", ""))
        if fields is None:
            return "AuthFailure.InvalidAuthorization", "Authorization header is not TC3-HMAC-SHA256."
        secret_id, date, service, terminator = [*fields["Credential"].split("/"), "", "", ""][:4]
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure it is correct."
        timestamp = request.headers.get("X-TC-Timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return "AuthFailure.SignatureExpire", "Signature expired. Timestamp is more than 300 seconds away."
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed or "content-type" not in signed:
            return "AuthFailure.SignatureFailure", "SignedHeaders must include content-type and host."
        canonical_headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in signed)
        canonical = "\n".join([request.method, request.path, request.query_string, canonical_headers,
                               fields["SignedHeaders"], hashlib.sha256(body).hexdigest()])
        scope = f"{date}/{service}/{terminator}"
        string_to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope,
                                    hashlib.sha256(canonical.encode()).hexdigest()])
        key = hmac.new(f"TC3{self.secret_key}".encode(), date.encode(), hashlib.sha256).digest()
        for part in (service, terminator):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        utc_date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        if service != "hunyuan" or terminator != "tc3_request" or date != utc_date \
                or not hmac.compare_digest(expected, fields["Signature"]):
            return "AuthFailure.SignatureFailure", "The provided credentials could not be validated. " \
                                                   "Please check your signature is correct."
        return None

    async def call(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        action = request.headers.get("X-TC-Action", "")
        self.actions.append(action)
        self.hosts.append(request.host)
        self.record(request)
        problem = self._signature_problem(request, body)
        if problem is None and request.headers.get("X-TC-Version") != VERSION:
            problem = "InvalidParameterValue", f"X-TC-Version must be {VERSION}."
        if problem is None and self.failures:
            problem = self.failures.pop(0)  # (code, message)
        if problem is not None:
            raise _error(*problem)
        payload = orjson.loads(body)
        self.requests.append(payload)
        if action == "ChatCompletions":
            return await self._chat(request, payload)
        if action == "GetEmbedding":
            return self._embedding(payload)
        raise _error("InvalidAction", f"The action {action} is not supported.")

    async def _chat(self, request: web.Request, payload: dict[str, Any]) -> web.StreamResponse:
        messages = payload.get("Messages")
        if not isinstance(messages, list) or not messages or messages[-1].get("Role") != "user" \
                or any(m.get("Role") not in ("system", "user", "assistant") or not m.get("Content") for m in messages):
            raise _error("InvalidParameter", "Messages: roles must be system/user/assistant, the last one user, "
                                              "and Content must not be empty.")
        temperature = payload.get("Temperature")
        if temperature is not None and not 0 <= temperature <= 2:
            raise _error("InvalidParameterValue", "Temperature must be within [0, 2].")
        prompt, completion = self.usage
        created, answer_id = int(time.time()), uuid.uuid4().hex
        note = "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记"
        if not payload.get("Stream"):
            return web.json_response({"Response": {
                "RequestId": str(uuid.uuid4()), "Note": note, "Created": created, "Id": answer_id,
                "Choices": [{"Index": 0, "FinishReason": "stop",
                             "Message": {"Role": "assistant", "Content": self.reply}}],
                "Usage": _usage(prompt, completion)}})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "X-TC-RequestId": str(uuid.uuid4())})
        await response.prepare(request)
        pieces = [self.reply[i : i + 4] for i in range(0, len(self.reply), 4)]
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            event = {"Note": note, "Created": created, "Id": answer_id,
                     "Choices": [{"Index": 0, "FinishReason": "stop" if last else "",
                                  "Delta": {"Role": "assistant", "Content": piece}}],
                     "Usage": _usage(prompt, completion if last else (number + 1) * completion // len(pieces))}
            await sse_event(response, event)
        return response

    def _embedding(self, payload: dict[str, Any]) -> web.Response:
        inputs = payload.get("InputList") or ([payload["Input"]] if isinstance(payload.get("Input"), str) else None)
        if not inputs or not all(isinstance(i, str) and i for i in inputs):
            raise _error("InvalidParameter", "Input or InputList is required.")
        return web.json_response({"Response": {
            "RequestId": str(uuid.uuid4()),
            "Data": [{"Embedding": [0.125, 0.5, -0.25], "Index": i, "Object": "embedding"} for i in range(len(inputs))],
            "Usage": {"PromptTokens": self.embedding_tokens, "TotalTokens": self.embedding_tokens}}})


def _authorization_fields(value: str) -> dict[str, str] | None:
    algorithm, _, rest = value.partition(" ")
    if algorithm != "TC3-HMAC-SHA256":
        return None
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        return None
    return fields


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"PromptTokens": prompt, "CompletionTokens": completion, "TotalTokens": prompt + completion}


def _error(code: str, message: str) -> Refusal:
    """Tencent Cloud's failures come with HTTP 200."""
    return Refusal(web.json_response({"Response": {"Error": {"Code": code, "Message": message},
                                                   "RequestId": str(uuid.uuid4())}}))
