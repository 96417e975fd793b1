"""Streams that end badly: the client leaves, or the upstream breaks mid-answer. Nothing is lost either way."""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp import web

from tests.conftest import Gateway, start_fake
from tests.test_relay_errors import CHAT
from tests.test_relay_openai import logs_of

STREAM = {**CHAT, "stream": True}


async def eventually_logged(gateway: Gateway, username: str) -> list[dict]:
    """The gateway settles after the stream ends on its side; poll (bounded) until the log row is written."""
    deadline = time.monotonic() + 20
    while not (logs := await logs_of(gateway, username=username)):
        assert time.monotonic() < deadline, "the interrupted stream was never billed"
        await asyncio.sleep(0.05)
    return logs


async def test_a_client_that_leaves_mid_stream_is_billed_for_what_was_produced(gateway: Gateway, make_fake_openai):
    fake = await make_fake_openai(reply="word " * 40, chunks=40, chunk_delay=0.05)
    await gateway.add_channel(fake.url)
    user = await gateway.add_user(quota=1_000_000)
    key = await gateway.add_token(user["access_token"])
    async with gateway.http.post(gateway.url + "/v1/chat/completions", json=STREAM,
                                 headers={"Authorization": key}) as resp:
        assert resp.status == 200
        await resp.content.readuntil(b"\n\n")
        await resp.content.readuntil(b"\n\n")
        resp.close()  # hang up after the first chunks

    [log] = await eventually_logged(gateway, user["username"])
    assert log["is_stream"] and log["quota"] > 0 and log["prompt_tokens"] > 0
    assert log["completion_tokens"] < gateway.state.counter.text("word " * 40, "gpt-3.5-turbo"), (
        "only the part produced before the client left is billed")
    await gateway.drain()
    after = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    assert 1_000_000 - after["quota"] == log["quota"], "the reservation was settled to the logged charge"


async def _breaking_upstream() -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in ("Hello", " there"):
            chunk = {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-3.5-turbo",
                     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await asyncio.sleep(0.05)
        request.transport.close()  # the upstream dies mid-answer
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def test_an_upstream_breaking_mid_stream_ends_the_stream_with_an_error_event(gateway: Gateway):
    server = await start_fake(await _breaking_upstream())
    await gateway.add_channel(str(server.make_url("")).rstrip("/"))
    user = await gateway.add_user(quota=1_000_000)
    key = await gateway.add_token(user["access_token"])
    async with gateway.http.post(gateway.url + "/v1/chat/completions", json=STREAM,
                                 headers={"Authorization": key}) as resp:
        assert resp.status == 200
        events = [line for line in (await resp.read()).decode().split("\n\n") if line]
    await server.close()
    assert '"Hello"' in events[0] and '" there"' in events[1]
    assert '"error"' in events[-2] and events[-1] == "data: [DONE]", events
    [log] = await eventually_logged(gateway, user["username"])
    assert log["completion_tokens"] == gateway.state.counter.text("Hello there", "gpt-3.5-turbo")

