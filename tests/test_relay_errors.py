"""Bad input and upstream trouble: every answer is an OpenAI-shaped error with the right status, never a 500."""

from __future__ import annotations

import gzip

import orjson
import pytest
from aiohttp import web

from tests.conftest import Gateway, start_fake
from tests.fakes.openai_upstream import FakeOpenAI


async def post(gateway: Gateway, key: str, data: bytes | None = None, json: object = None,
               path: str = "/v1/chat/completions", headers: dict | None = None) -> tuple[int, dict]:
    all_headers = {"Authorization": key, **(headers or {})}
    async with gateway.http.post(gateway.url + path, data=data, json=json, headers=all_headers) as resp:
        return resp.status, await resp.json(content_type=None)


def assert_openai_error(body: dict, contains: str) -> None:
    assert set(body) == {"error"}
    assert {"message", "type", "code"} <= set(body["error"]), body
    assert contains in body["error"]["message"], body


@pytest.fixture
async def key(gateway: Gateway, fake_openai: FakeOpenAI) -> str:
    await gateway.add_channel(fake_openai.url)
    return await gateway.add_token()


CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (orjson.dumps({"messages": [{"role": "user", "content": "x"}]}), 400, "model is required"),
    (orjson.dumps({"model": "gpt-3.5-turbo"}), 400, "field messages is required"),
    (orjson.dumps({"model": "gpt-3.5-turbo", "messages": "hi"}), 400, "field messages is required"),
    (orjson.dumps({**CHAT, "max_tokens": -1}), 400, "max_tokens is invalid"),
    (orjson.dumps({**CHAT, "model": 42}), 400, "model must be a string"),
    (orjson.dumps({**CHAT, "model": "no-such-model"}), 404, "does not exist or you do not have access"),
])
async def test_bad_chat_requests(gateway: Gateway, key: str, body: bytes, status: int, message: str):
    got_status, got = await post(gateway, key, data=body, headers={"Content-Type": "application/json"})
    assert got_status == status
    assert_openai_error(got, message)


async def test_wrong_content_type_is_refused(gateway: Gateway, key: str):
    status, body = await post(gateway, key, data=b"model=gpt-3.5-turbo&stream=true",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert_openai_error(body, "application/json")


async def test_body_over_the_limit_is_413(make_gateway, fake_openai: FakeOpenAI):
    gateway = await make_gateway(ONEAPI_MAX_BODY_MB="1")
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token()
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}
    status, body = await post(gateway, key, json=big)
    assert status == 413
    assert_openai_error(body, "too large")


async def test_gzip_request_bodies_are_accepted(gateway: Gateway, key: str):
    status, body = await post(gateway, key, data=gzip.compress(orjson.dumps(CHAT)),
                              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 200 and body["choices"][0]["message"]["content"] == "Hello from fake"
    status, body = await post(gateway, key, data=b"not gzip",
                              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 400
    assert_openai_error(body, "cannot be decoded")


async def test_unknown_routes_and_methods(gateway: Gateway, key: str):
    async with gateway.http.get(gateway.url + "/v1/unknown") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["message"] == "Invalid URL (GET /v1/unknown)"
    async with gateway.http.get(gateway.url + "/v1/chat/completions", headers={"Authorization": key}) as resp:
        assert resp.status == 405
        assert_openai_error(await resp.json(), "")
    status, body = await post(gateway, key, json={}, path="/v1/files")
    assert status == 501
    assert_openai_error(body, "API not implemented")


@pytest.mark.parametrize(("authorization", "message"), [
    ("", "未提供令牌"),
    ("Bearer sk-doesnotexist", "无效的令牌"),
])
async def test_missing_or_unknown_keys(gateway: Gateway, authorization: str, message: str):
    status, body = await post(gateway, authorization, json=CHAT)
    assert status == 401
    assert_openai_error(body, message)


async def test_upstream_error_status_and_message_reach_the_client(gateway: Gateway, key: str,
                                                                  fake_openai: FakeOpenAI):
    fake_openai.fail_next(429, "Rate limit reached", "requests", "rate_limit_exceeded")
    status, body = await post(gateway, key, json=CHAT)
    assert status == 429
    assert_openai_error(body, "上游负载已饱和")
    fake_openai.fail_next(400, "Invalid 'messages'", "invalid_request_error", "invalid_value")
    status, body = await post(gateway, key, json=CHAT)
    assert status == 400 and body["error"]["code"] == "invalid_value"
    assert_openai_error(body, "Invalid 'messages'")


async def _garbage_app() -> web.Application:
    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>bad gateway</html>", content_type="application/json")

    async def hang(request: web.Request) -> web.Response:
        await request.app["never"].wait()
        return web.Response()

    import asyncio

    app = web.Application()
    app["never"] = asyncio.Event()
    app.router.add_post("/garbage/v1/chat/completions", garbage)
    app.router.add_post("/hang/v1/chat/completions", hang)
    return app


async def test_garbage_timeout_and_unreachable_upstreams(make_gateway):
    gateway = await make_gateway(RELAY_TIMEOUT="1")
    server = await start_fake(await _garbage_app())
    base = str(server.make_url("")).rstrip("/")
    user = await gateway.add_user(quota=50_000)
    for path, status, message in (("/garbage", 502, "not valid JSON"), ("/hang", 504, "did not answer in time")):
        channel = await gateway.add_channel(base + path)
        key = await gateway.add_token(user["access_token"])
        got_status, body = await post(gateway, f"{key}", json=CHAT)
        assert got_status == status, body
        assert_openai_error(body, message)
        await gateway.api("DELETE", f"/api/channel/{channel['id']}")
    await server.close()
    await gateway.add_channel("http://127.0.0.1:9")  # nothing listens on the discard port
    key = await gateway.add_token(user["access_token"])
    status, body = await post(gateway, key, json=CHAT)
    assert status == 502
    assert_openai_error(body, "could not be reached")
    await gateway.drain()
    after = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    assert after["quota"] == 50_000 and after["used_quota"] == 0, "every failed request was refunded"
