"""Zhipu ChatGLM channels (type 16) through the running gateway, against a fake that verifies Zhipu's JWTs."""

from __future__ import annotations

import time

import jwt
import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.zhipu import FakeZhipu
from tests.providers import (
    WEATHER_TOOL,
    Customer,
    fake_upstream,
    stream_chat,
    streamed_text,
    tool_reply,
    wire,
    wired_to,
)

zhipu = fake_upstream(FakeZhipu)


MODELS = "glm-4,chatglm_turbo,chatglm_pro,embedding-2,cogview-3"
wired = wired_to("zhipu", ChannelType.ZHIPU, MODELS)


async def test_glm4_chat_is_signed_with_a_zhipu_jwt_clamped_and_billed(wired: Customer, zhipu: FakeZhipu):
    client = wired.client

    answer = await client.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}],
                                                  temperature=1.6, top_p=1.0)

    assert answer.choices[0].message.content == zhipu.reply
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == zhipu.usage
    assert zhipu.paths == ["/api/paas/v4/chat/completions"]
    assert (zhipu.requests[0]["temperature"], zhipu.requests[0]["top_p"]) == (0.99, 0.99)
    claims = jwt.decode(zhipu.tokens[0], options={"verify_signature": False})
    now_ms = time.time() * 1000
    assert claims["api_key"] == zhipu.api_id and claims["timestamp"] <= now_ms < claims["exp"]
    assert jwt.get_unverified_header(zhipu.tokens[0])["sign_type"] == "SIGN"
    await wired.assert_billed("glm-4", ChannelType.ZHIPU, *zhipu.usage)


async def test_glm4_stream_is_billed_from_the_usage_in_its_last_chunk(wired: Customer, zhipu: FakeZhipu):
    client = wired.client

    chunks = await stream_chat(client, model="glm-4", messages=[{"role": "user", "content": "hi"}])

    assert streamed_text(chunks) == zhipu.reply
    assert chunks[-1].choices[0].finish_reason == "stop"
    await wired.assert_billed("glm-4", ChannelType.ZHIPU, *zhipu.usage)


async def test_glm4_tool_call_round_trip(wired: Customer, zhipu: FakeZhipu):
    client = wired.client
    question = {"role": "user", "content": "Weather in Beijing?"}

    first = await client.chat.completions.create(model="glm-4", messages=[question], tools=[WEATHER_TOOL])

    assert first.choices[0].finish_reason == "tool_calls"
    [call] = first.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", zhipu.tool_arguments)
    assert zhipu.requests[0]["tools"] == [WEATHER_TOOL]

    second = await client.chat.completions.create(model="glm-4", tools=[WEATHER_TOOL],
                                                  messages=tool_reply(question, first, "Sunny, 25°C"))

    assert second.choices[0].message.content == "The tool said: Sunny, 25°C"
    assert zhipu.requests[1]["messages"][1]["tool_calls"][0]["id"] == call.id


async def test_chatglm_v3_invoke_unquotes_the_answer_and_bills_its_usage(wired: Customer, zhipu: FakeZhipu):
    zhipu.reply = 'He said "hi"\nthen left'
    client = wired.client

    answer = await client.chat.completions.create(model="chatglm_turbo", temperature=0, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])

    assert answer.choices[0].message.content == zhipu.reply
    assert zhipu.paths == ["/api/paas/v3/model-api/chatglm_turbo/invoke"]
    assert zhipu.requests[0]["prompt"][1] == {"role": "user", "content": "hi"}
    assert zhipu.requests[0]["temperature"] == 0.01
    await wired.assert_billed("chatglm_turbo", ChannelType.ZHIPU, *zhipu.usage)


async def test_chatglm_v3_sse_invoke_joins_data_lines_and_bills_the_meta_usage(wired: Customer,
                                                                                zhipu: FakeZhipu):
    zhipu.reply = "First line\nsecond line\nthird"
    client = wired.client

    chunks = await stream_chat(client, model="chatglm_pro", messages=[{"role": "user", "content": "hi"}])

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == zhipu.reply
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert zhipu.paths == ["/api/paas/v3/model-api/chatglm_pro/sse-invoke"]
    await wired.assert_billed("chatglm_pro", ChannelType.ZHIPU, *zhipu.usage)


async def test_embeddings_go_to_v4_and_are_billed_from_usage(wired: Customer, zhipu: FakeZhipu):
    vectors = await wired.billed_embeddings("embedding-2", ChannelType.ZHIPU, zhipu.embedding_tokens, "hello")

    assert vectors == [[0.25, -0.5, 0.75]]
    assert zhipu.paths == ["/api/paas/v4/embeddings"]
    assert zhipu.requests[0] == {"model": "embedding-2", "input": "hello"}


async def test_images_are_passed_to_v4_generations(wired: Customer, zhipu: FakeZhipu):
    client = wired.client

    result = await client.images.generate(model="cogview-3", prompt="a red panda", user="u-1")

    assert result.data[0].url == "https://aigc-files.bigmodel.cn/api/cogview/fake.png"
    assert zhipu.paths == ["/api/paas/v4/images/generations"]
    assert zhipu.requests[0] == {"model": "cogview-3", "prompt": "a red panda", "user_id": "u-1"}


async def test_one_jwt_serves_consecutive_requests(wired: Customer, zhipu: FakeZhipu):
    client = wired.client
    for _ in range(2):
        await client.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}])

    assert len(zhipu.tokens) == 2 and zhipu.tokens[0] == zhipu.tokens[1]


async def test_a_wrong_secret_is_refused_by_zhipu(gateway: Gateway, zhipu: FakeZhipu):
    stranger = await wire(gateway, zhipu, ChannelType.ZHIPU, MODELS, key=f"{zhipu.api_id}.not-the-secret")

    refused = await stranger.refused_at_no_cost(openai.AuthenticationError, model="glm-4")

    assert refused.status_code == 401 and refused.body["code"] == "1004"
    assert "签名" in refused.body["message"]
    assert zhipu.requests, "the request reached Zhipu and was refused there"


async def test_upstream_errors_keep_a_sensible_status(wired: Customer, zhipu: FakeZhipu):
    client = wired.client
    messages = [{"role": "user", "content": "hi"}]

    zhipu.fail_next(429, 1302, "您当前使用该API的并发数过高，请降低并发")
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="glm-4", messages=messages)

    zhipu.fail_next(200, 1261, "Prompt 超长")  # v3 says it inside an HTTP 200 answer
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="chatglm_turbo", messages=messages)
    assert bad.value.body["type"] == "zhipu_error" and bad.value.body["code"] == "1261"
    assert "Prompt 超长" in bad.value.body["message"]

    zhipu.fail_next(200, 1113, "您的账户已欠费，请充值后重试")
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(model="chatglm_turbo", messages=messages, stream=True)
