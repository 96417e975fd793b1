"""A fake Zhipu BigModel API (open.bigmodel.cn), written from Zhipu's API documentation.

Authentication is Zhipu's: the ``Authorization`` header carries a JWT (``Bearer `` optional) whose header is
``{"alg": "HS256", "sign_type": "SIGN"}`` and whose claims are ``api_key`` (the key id), ``exp`` and
``timestamp`` in **milliseconds**. The fake verifies the HS256 signature with the secret of that id (PyJWT) and
refuses an expired token, with Zhipu's codes 1001-1004. v4 (OpenAI-like) answers errors with an HTTP status and
``{"error": {"code", "message"}}``; v3 (``invoke`` / ``sse-invoke``) answers them with HTTP 200 and
``{"code", "msg", "success": false}``. Usage numbers are the fake's own (``usage``), so tests can assert quota.
"""

from __future__ import annotations

import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from aiohttp import web
from jwt.warnings import InsecureKeyLengthWarning

from tests.fakes.server import FakeServer, Refusal
from tests.fakes.shared import sized, sse_event, token_usage


@dataclass
class FakeZhipu(FakeServer):
    api_id: str = "4c2a19e07d5b4f7e9a1c3b5d7e9f1a2b"
    secret: str = "Xq7pLm2Zr9TtVb4K"
    reply: str = "Hello from GLM"
    usage: tuple[int, int] = (13, 8)  # (prompt, completion) reported for chat
    embedding_tokens: int = 6
    tool_arguments: str = '{"city": "Beijing"}'
    tokens: list[str] = field(default_factory=list)  # every JWT received

    @property
    def key(self) -> str:
        """The channel key: ``id.secret``."""
        return f"{self.api_id}.{self.secret}"

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/api/paas/v4/chat/completions", self.chat_v4),
                web.post("/api/paas/v4/embeddings", self.embeddings),
                web.post("/api/paas/v4/images/generations", self.images),
                web.post("/api/paas/v3/model-api/{model}/{action:invoke|sse-invoke}", self.invoke_v3)]

    # -- auth ----------------------------------------------------------------------------------------
    def _auth_failure(self, request: web.Request) -> tuple[int, str] | None:
        value = request.headers.get("Authorization", "")
        token = value.removeprefix("Bearer ").strip()
        if not token:
            return 1001, "Header中未收到Authorization参数，无法进行身份验证。"
        self.tokens.append(token)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return 1002, "Authorization Token非法，请确认Authorization Token正确传递。"
        if header.get("alg") != "HS256" or header.get("sign_type") != "SIGN":
            return 1002, "Authorization Token非法，请确认Authorization Token正确传递。"
        if claims.get("api_key") != self.api_id:
            return 1004, "Authorization Token验证失败：api_key不存在。"
        try:
            with warnings.catch_warnings():  # Zhipu's secrets are 16 characters, shorter than PyJWT would like
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_exp": False})
        except jwt.InvalidSignatureError:
            return 1004, "Authorization Token验证失败：签名不正确。"
        now_ms = time.time() * 1000
        exp, timestamp = claims.get("exp"), claims.get("timestamp")
        if not isinstance(exp, int) or not isinstance(timestamp, int) or exp <= now_ms:
            return 1003, "Authorization Token已过期。"
        if timestamp > now_ms + 60_000:
            return 1002, "Authorization Token非法：timestamp 在未来。"
        return None

    async def _read(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(body)
        self.record(request)
        return body

    async def _v4_request(self, request: web.Request) -> dict[str, Any]:
        """The body of a v4 call, refused when auth or a scripted failure says so."""
        body = await self._read(request)
        failure = self._auth_failure(request)
        if failure is not None:
            raise _v4_error(401, *failure)
        if self.failures:
            raise _v4_error(*self.failures.pop(0))  # (HTTP status, Zhipu code, message)
        return body

    # -- v4 --------------------------------------------------------------------------------------------
    async def chat_v4(self, request: web.Request) -> web.StreamResponse:
        body = await self._v4_request(request)
        for name in ("temperature", "top_p"):
            value = body.get(name)
            if value is not None and not 0 < value < 1:
                raise _v4_error(400, 1214, f"{name}参数非法，取值范围为(0,1)")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _v4_error(400, 1214, "messages 参数非法")
        message = self._answer(body)
        created = int(time.time())
        prompt, completion = self.usage
        usage = token_usage(prompt, completion)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        base = {"id": _task_id(), "created": created, "model": body.get("model")}
        if not body.get("stream"):
            return web.json_response({**base, "request_id": base["id"], "choices": [
                {"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if message.get("tool_calls"):
            deltas = [{"role": "assistant", "tool_calls": message["tool_calls"]}]
        else:
            text = message["content"]
            deltas = [{"role": "assistant", "content": text[i : i + 5]} for i in range(0, len(text), 5)]
        for delta in deltas:
            await sse_event(response, {**base, "choices": [{"index": 0, "delta": delta}]})
        await sse_event(response, {**base, "choices": [{"index": 0, "finish_reason": finish,
                                                     "delta": {"role": "assistant", "content": ""}}],
                                "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        return response

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Call the first tool on a user turn when tools are offered; read a tool result back otherwise."""
        last = body["messages"][-1]
        if last.get("role") == "tool":
            return {"role": "assistant", "content": f"The tool said: {last.get('content')}"}
        tools = body.get("tools") or []
        if tools and body.get("tool_choice") != "none":
            function = tools[0]["function"]
            return {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{uuid.uuid4().hex[:20]}", "index": 0, "type": "function",
                 "function": {"name": function["name"], "arguments": self.tool_arguments}}]}
        return {"role": "assistant", "content": self.reply}

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await self._v4_request(request)
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
            raise _v4_error(400, 1214, "input 参数非法")
        return web.json_response({
            "model": body.get("model"), "object": "list",
            "data": [{"embedding": sized([0.25, -0.5, 0.75], body.get("dimensions")), "index": i, "object": "embedding"}
                     for i in range(len(inputs))],
            "usage": {"completion_tokens": 0, "prompt_tokens": self.embedding_tokens,
                      "total_tokens": self.embedding_tokens},
        })

    async def images(self, request: web.Request) -> web.Response:
        body = await self._v4_request(request)
        if not body.get("model") or not body.get("prompt"):
            raise _v4_error(400, 1214, "model 与 prompt 不能为空")
        return web.json_response({"created": int(time.time()),
                                  "data": [{"url": "https://aigc-files.bigmodel.cn/api/cogview/fake.png"}]})

    # -- v3 --------------------------------------------------------------------------------------------
    async def invoke_v3(self, request: web.Request) -> web.StreamResponse:
        body = await self._read(request)
        failure = self._auth_failure(request)
        if failure is None and self.failures:
            _, code, message = self.failures.pop(0)  # v3 answers failures with HTTP 200
            failure = code, message
        if failure is not None:
            return web.json_response({"code": failure[0], "msg": failure[1], "success": False})
        prompt = body.get("prompt")
        if not isinstance(prompt, list) or not prompt or any(p.get("role") not in ("user", "assistant")
                                                             for p in prompt):
            return web.json_response({"code": 1214, "msg": "prompt 参数非法", "success": False})
        task_id = _task_id()
        usage = token_usage(*self.usage)
        if request.match_info["action"] == "invoke":
            return web.json_response({"code": 200, "msg": "操作成功", "success": True, "data": {
                "request_id": task_id, "task_id": task_id, "task_status": "SUCCESS", "usage": usage,
                "choices": [{"role": "assistant", "content": orjson.dumps(self.reply).decode()}]}})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8"})
        await response.prepare(request)
        for start in range(0, len(self.reply), 6):
            piece = self.reply[start : start + 6]
            lines = "".join(f"data:{line}\n" for line in piece.split("\n"))
            await response.write(f"event:add\nid:{task_id}\n{lines}\n".encode())
        meta = {"task_status": "SUCCESS", "usage": usage, "task_id": task_id, "request_id": task_id}
        await response.write(f"event:finish\nid:{task_id}\ndata:\nmeta:{orjson.dumps(meta).decode()}\n\n".encode())
        return response


def _task_id() -> str:
    return f"{int(time.time() * 1000)}{uuid.uuid4().int % 10**10}"


def _v4_error(status: int, code: int, message: str) -> Refusal:
    return Refusal(web.json_response({"error": {"code": str(code), "message": message}}, status=status))
