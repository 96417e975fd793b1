"""A fake Xunfei Spark WebSocket API (spark-api.xf-yun.com), written from iFlytek's Spark documentation.

Handshake authentication is iFlytek's URL signature: the query carries ``authorization`` (base64 of
``api_key="…", algorithm="hmac-sha256", headers="host date request-line", signature="…"``), ``date`` (RFC 1123)
and ``host``. The fake recomputes the signature over ``host: <Host header>\\ndate: <date>\\nGET <path> HTTP/1.1``
with the APISecret of that APIKey and refuses the upgrade with HTTP 401 on a mismatch, an unknown key or a date
more than 300 s away. After the upgrade it reads one request frame, checks it (``header.app_id`` must be the
key's APPID, ``domain`` must match the path's version) and answers with frames ``header.status`` 0/1/2, usage in
the last one; problems are frames with a non-zero ``header.code``. Frames are TEXT frames of JSON both ways, as
Spark's: a binary request frame gets the connection closed (1003, unsupported data) unanswered. Usage numbers
are the fake's own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from tests.fakes.server import FakeServer, Refusal

DOMAINS = {"/v1.1/chat": "lite", "/v2.1/chat": "generalv2", "/v3.1/chat": "generalv3", "/chat/pro-128k": "pro-128k",
           "/v3.5/chat": "generalv3.5", "/chat/max-32k": "max-32k", "/v4.0/chat": "4.0Ultra"}
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class FakeXunfei(FakeServer):
    app_id: str = field(default_factory=lambda: secrets.token_hex(4))
    api_secret: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(24)).decode())
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    reply: str = "Hello from Spark"
    usage: tuple[int, int] = (21, 12)  # (prompt, completion) reported in the last frame
    function_arguments: str = '{"city":"Hefei"}'
    frames: list[dict[str, Any]] = field(default_factory=list)  # request frames received
    handshake_failures: list[str] = field(default_factory=list)
    refused_frames: list[str] = field(default_factory=list)  # types of request frames refused (not TEXT)

    @property
    def key(self) -> str:
        """The channel key: ``APPID|APISecret|APIKey``."""
        return f"{self.app_id}|{self.api_secret}|{self.api_key}"

    def routes(self) -> list[web.RouteDef]:
        return [web.get(path, self.chat) for path in DOMAINS]

    def _handshake_refusal(self, request: web.Request) -> str:
        query = request.query
        try:
            fields = dict(_AUTH_FIELD.findall(base64.b64decode(query.get("authorization", "")).decode()))
        except ValueError:
            return "HMAC signature cannot be verified: authorization is not base64"
        if fields.get("api_key") != self.api_key:
            return "HMAC signature cannot be verified: fail to retrieve credential"
        if fields.get("algorithm") != "hmac-sha256" or fields.get("headers") != "host date request-line":
            return "HMAC signature cannot be verified: unsupported algorithm or headers"
        try:
            skew = abs(time.time() - parsedate_to_datetime(query.get("date", "")).timestamp())
        except (TypeError, ValueError):
            skew = float("inf")
        if skew > 300:
            return ("HMAC signature cannot be verified, a valid date or x-date header is required for HMAC "
                    "Authentication")
        origin = f"host: {request.host}\ndate: {query['date']}\nGET {request.path} HTTP/1.1"
        expected = base64.b64encode(hmac.new(self.api_secret.encode(), origin.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected.decode(), fields.get("signature", "")):
            return "HMAC signature does not match"
        return ""

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.record(request)
        refusal = self._handshake_refusal(request)
        if refusal:
            self.handshake_failures.append(refusal)
            raise Refusal(web.json_response({"message": refusal}, status=401))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        message = await ws.receive()
        if message.type != WSMsgType.TEXT:
            self.refused_frames.append(message.type.name)
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"text frames only")
            return ws
        frame = orjson.loads(message.data)
        self.frames.append(frame)
        sid = f"cht000{uuid.uuid4().hex[:12]}@dx"
        problem = self._check(frame, DOMAINS[request.path])
        if problem is None and self.failures:
            problem = self.failures.pop(0)  # (code, message)
        if problem is not None:
            await ws.send_str(orjson.dumps({"header": {"code": problem[0], "message": problem[1], "sid": sid,
                                                       "status": 2}}).decode())
            await ws.close()
            return ws
        for answer in self._answer(frame, sid):
            await ws.send_str(orjson.dumps(answer).decode())
        await ws.close()
        return ws

    def _check(self, frame: dict[str, Any], domain: str) -> tuple[int, str] | None:
        if (frame.get("header") or {}).get("app_id") != self.app_id:
            return 11200, "授权错误：该appId没有相关功能的授权 或者 业务量超过限制"
        chat = (frame.get("parameter") or {}).get("chat") or {}
        if chat.get("domain") != domain:
            return 10163, f"请求引擎的参数异常：domain 应为 {domain}"
        temperature = chat.get("temperature")
        if temperature is not None and not 0 < temperature <= 1:
            return 10163, "请求引擎的参数异常：temperature 取值范围 (0,1]"
        top_k = chat.get("top_k")
        if top_k is not None and not 1 <= top_k <= 6:
            return 10163, "请求引擎的参数异常：top_k 取值范围 [1,6]"
        text = ((frame.get("payload") or {}).get("message") or {}).get("text")
        if not isinstance(text, list) or not text:
            return 10163, "请求引擎的参数异常：payload.message.text 不能为空"
        for message in text:
            if message.get("role") not in ("system", "user", "assistant") or not message.get("content"):
                return 10163, "请求引擎的参数异常：role 须为 system/user/assistant，content 不能为空"
        return None

    def _answer(self, frame: dict[str, Any], sid: str) -> list[dict[str, Any]]:
        """Call the first function on a fresh question; answer in text otherwise (echoing a function result)."""
        payload = frame["payload"]
        text = payload["message"]["text"]
        functions = (payload.get("functions") or {}).get("text") or []
        prompt, completion = self.usage
        usage = {"text": {"question_tokens": 4, "prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}}
        if functions and not any(m["role"] == "assistant" for m in text):
            call = {"name": functions[0]["name"], "arguments": self.function_arguments}
            items = [[{"content": "", "role": "assistant", "index": 0, "content_type": "text", "function_call": call}]]
        else:
            conversation = any(m["role"] == "assistant" for m in text)
            reply = f"{self.reply}; you said: {text[-1]['content']}" if conversation else self.reply
            items = [[{"content": reply[i : i + 5], "role": "assistant", "index": 0}] for i in range(0, len(reply), 5)]
        answers = []
        for seq, item in enumerate(items):
            status = 2 if seq == len(items) - 1 else (0 if seq == 0 else 1)
            answer: dict[str, Any] = {"header": {"code": 0, "message": "Success", "sid": sid, "status": status},
                                      "payload": {"choices": {"status": status, "seq": seq, "text": item}}}
            if status == 2:
                answer["payload"]["usage"] = usage
            answers.append(answer)
        return answers
