"""Counting tokens ourselves (a provider that reports no usage, Claude's count_tokens on another channel) never
holds up the event loop: a long text is counted in a thread, and other requests are answered meanwhile.

The gateway runs in this test's own event loop, so a loop the count blocked would hold up this test's other
requests too: each test counts what got answered while the count ran. The texts are long runs of one character,
which tiktoken takes about a second per 1.5 MB to count.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from tests.conftest import Gateway, start_fake
from tests.test_relay_errors import CHAT
from tests.test_relay_streams import STREAM, eventually_logged

LONG_TEXT = "x" * 1_500_000


async def test_a_long_stream_without_usage_is_counted_while_other_requests_are_served(gateway: Gateway,
                                                                                     make_fake_openai):
    """The provider reports no usage, so the gateway counts the streamed text itself: 1.5 MB of one character,
    about a second of tiktoken. It counts in a thread, so the event loop (which this test shares with the
    gateway) serves another request meanwhile: that answer comes before the stream's end."""
    reply = LONG_TEXT
    fake = await make_fake_openai(reply=reply, chunks=3, usage=None)
    await gateway.add_channel(fake.url)
    user = await gateway.add_user(quota=10**9)
    key = await gateway.add_token(user["access_token"])
    order: list[str] = []
    async with gateway.http.post(gateway.url + "/v1/chat/completions", json=STREAM,
                                 headers={"Authorization": key}) as resp:
        received = 0
        while received < len(reply):  # the whole text has arrived: the gateway is counting it now
            event = orjson.loads((await resp.content.readuntil(b"\n\n"))[6:])
            received += sum(len(choice["delta"].get("content") or "") for choice in event["choices"])

        async def status() -> None:
            async with gateway.http.get(gateway.url + "/api/status") as answer:
                assert answer.status == 200
            order.append("another request answered")

        asking = asyncio.create_task(status())
        assert (await resp.read()).endswith(b"data: [DONE]\n\n")
        order.append("stream ended")
        await asking
    assert order == ["another request answered", "stream ended"]
    [log] = await eventually_logged(gateway, user["username"])
    assert log["completion_tokens"] == await asyncio.to_thread(gateway.state.counter.text, reply, "gpt-3.5-turbo")


async def answered_meanwhile(gateway: Gateway, busy: asyncio.Task) -> int:
    """How many admin requests, one after another, were answered before ``busy`` finished."""
    answered = 0
    while not busy.done():
        async with gateway.http.get(gateway.url + "/api/status") as answer:
            assert answer.status == 200
        if not busy.done():
            answered += 1
    return answered


async def test_a_long_answer_without_usage_is_counted_while_other_requests_are_served(gateway: Gateway):
    sent = asyncio.Event()

    async def chat(request: web.Request) -> web.Response:
        answer = {"id": "chatcmpl-long", "object": "chat.completion", "created": 1, "model": "gpt-3.5-turbo",
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": LONG_TEXT * 2},
                               "finish_reason": "stop"}]}  # and no usage
        response = web.Response(body=orjson.dumps(answer), content_type="application/json")
        await response.prepare(request)
        await response.write_eof()
        sent.set()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    upstream = await start_fake(app)
    await gateway.add_channel(str(upstream.make_url("")).rstrip("/"))
    user = await gateway.add_user(quota=10**9)
    key = await gateway.add_token(user["access_token"])

    async def ask() -> dict:
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json=CHAT,
                                     headers={"Authorization": key}) as resp:
            assert resp.status == 200
            return await resp.json()

    asking = asyncio.create_task(ask())
    await sent.wait()  # the gateway has the answer and now counts its 3 MB of text
    assert await answered_meanwhile(gateway, asking) >= 100  # about 5,000 here; 4 or 5 when the loop counted
    assert (await asking)["choices"][0]["message"]["content"] == LONG_TEXT * 2
    [log] = await eventually_logged(gateway, user["username"])
    assert log["completion_tokens"] == await asyncio.to_thread(gateway.state.counter.text, LONG_TEXT * 2,
                                                               "gpt-3.5-turbo")
    await upstream.close()


async def test_count_tokens_of_a_long_prompt_is_counted_while_other_requests_are_served(gateway: Gateway,
                                                                                      fake_openai):
    await gateway.add_channel(fake_openai.url)  # not a Claude channel: the gateway counts the prompt itself
    key = await gateway.add_token()
    body = {"model": "gpt-3.5-turbo", "max_tokens": 16, "messages": [{"role": "user", "content": LONG_TEXT * 2}]}

    async def count() -> dict:
        async with gateway.http.post(gateway.url + "/v1/messages/count_tokens", json=body,
                                     headers={"x-api-key": key, "anthropic-version": "2023-06-01"}) as resp:
            assert resp.status == 200
            return await resp.json()

    counting = asyncio.create_task(count())
    assert await answered_meanwhile(gateway, counting) >= 100
    assert (await counting)["input_tokens"] > 1000
