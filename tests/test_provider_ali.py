"""Alibaba Qwen channels (type 17) on DashScope's native API, driven with the official OpenAI SDK."""

from __future__ import annotations

import base64

import openai
import pytest

from oneapi.adaptors import ali
from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.ali import PNG_BYTES, FakeDashScope
from tests.providers import Customer, customer, expected_quota, fake_upstream

ALI = ChannelType.ALI
MODELS = "qwen-max,qwen-max-internet,text-embedding-v1,wanx-v1"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}


dashscope = fake_upstream(FakeDashScope)


@pytest.fixture
async def qwen_user(gateway: Gateway, dashscope: FakeDashScope) -> Customer:
    return await customer(gateway, dashscope.url, ALI, dashscope.key, MODELS, config='{"plugin": "calculator"}')


async def test_chat_is_converted_and_billed_from_dashscope_usage(qwen_user: Customer, dashscope: FakeDashScope):
    answer = await qwen_user.client.chat.completions.create(
        model="qwen-max", top_p=1, messages=[{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": "Say hello"}])

    assert answer.choices[0].message.content == "Hello from Qwen"
    assert answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (13, 5)
    sent = dashscope.requests[-1]
    assert sent["model"] == "qwen-max"
    assert sent["input"]["messages"] == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Say hello"}]
    assert sent["parameters"]["result_format"] == "message" and sent["parameters"]["top_p"] == 0.9999
    assert sent["parameters"]["incremental_output"] is False and sent["parameters"]["enable_search"] is False
    headers = dashscope.headers[-1]
    assert headers["Authorization"] == f"Bearer {dashscope.key}" and "X-DashScope-SSE" not in headers
    assert headers["X-DashScope-Plugin"] == "calculator"
    [log] = await qwen_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (13, 5) and not log["is_stream"]
    assert log["quota"] == expected_quota(13, 5, "qwen-max", ALI)


async def test_stream_uses_dashscope_sse_with_incremental_output(qwen_user: Customer, dashscope: FakeDashScope):
    await qwen_user.streamed_hi_billed("qwen-max", ALI, "Hello from Qwen", (13, 5))

    assert dashscope.headers[-1]["X-DashScope-SSE"] == "enable"
    assert dashscope.requests[-1]["parameters"]["incremental_output"] is True


async def test_internet_suffix_turns_on_search_and_bills_the_base_model(qwen_user: Customer,
                                                                        dashscope: FakeDashScope):
    await qwen_user.client.chat.completions.create(
        model="qwen-max-internet", messages=[{"role": "user", "content": "news?"}])

    sent = dashscope.requests[-1]
    assert sent["model"] == "qwen-max" and sent["parameters"]["enable_search"] is True
    [log] = await qwen_user.logs()
    assert log["model_name"] == "qwen-max-internet"
    assert log["quota"] == expected_quota(13, 5, "qwen-max", ALI)


async def test_tool_call_round_trip(qwen_user: Customer, dashscope: FakeDashScope):
    call, second = await qwen_user.tool_round_trip("qwen-max", "Weather in Hangzhou?", WEATHER_TOOL,
                                                   {"location": "Hangzhou"}, "sunny, 24°C")

    assert dashscope.requests[-2]["parameters"]["tools"] == [WEATHER_TOOL]
    assert second.choices[0].message.content == "The tool said: sunny, 24°C"
    tool_message = dashscope.requests[-1]["input"]["messages"][-1]
    assert tool_message == {"role": "tool", "content": "sunny, 24°C", "tool_call_id": call.id, "name": "get_weather"}
    assert len(await qwen_user.logs()) == 2


async def test_embeddings_are_billed_from_reported_tokens(qwen_user: Customer, dashscope: FakeDashScope):
    result = await qwen_user.client.embeddings.create(model="text-embedding-v1", input=["one", "two"])

    assert [item.index for item in result.data] == [0, 1] and result.data[1].embedding == [0.25, -0.5, 1.0]
    assert result.usage.prompt_tokens == 9
    assert dashscope.requests[-1]["input"] == {"texts": ["one", "two"]}
    [log] = await qwen_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (9, 0)
    assert log["quota"] == expected_quota(9, 0, "text-embedding-v1", ALI) > 0


async def test_wanx_images_poll_the_task_on_the_channel_base_url(qwen_user: Customer, dashscope: FakeDashScope,
                                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ali, "TASK_POLL_INTERVAL", 0.01)
    images = await qwen_user.client.images.generate(model="wanx-v1", prompt="a cat", n=2, size="1024x1024")

    assert [image.url for image in images.data] == [f"{dashscope.url}/images/{task}-{i}.png"
                                                     for task in dashscope.tasks for i in range(2)]
    assert dashscope.headers[0]["X-DashScope-Async"] == "enable"
    assert dashscope.requests[0]["parameters"] == {"size": "1024*1024", "n": 2}
    assert dashscope.paths.count(f"/api/v1/tasks/{next(iter(dashscope.tasks))}") == 3
    encoded = await qwen_user.client.images.generate(model="wanx-v1", prompt="a dog", response_format="b64_json")
    assert base64.b64decode(encoded.data[0].b64_json) == PNG_BYTES
    logs = await qwen_user.logs()
    assert sorted(log["quota"] for log in logs) == [8000, 16000]  # int(8 × 1 × 1000) × n


async def test_failed_image_task_is_an_error_and_costs_nothing(qwen_user: Customer, dashscope: FakeDashScope,
                                                               monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ali, "TASK_POLL_INTERVAL", 0.01)
    dashscope.task_failure = ("DataInspectionFailed", "Input data may contain inappropriate content.")
    before = await qwen_user.quota_left()
    with pytest.raises(openai.InternalServerError) as caught:
        await qwen_user.client.images.generate(model="wanx-v1", prompt="something", n=1)
    assert "inappropriate content" in caught.value.message
    assert await qwen_user.quota_left() == before and await qwen_user.logs() == []


async def test_dashscope_error_reaches_the_client_in_openai_shape(qwen_user: Customer, dashscope: FakeDashScope):
    dashscope.fail_next(400, "InvalidParameter", "Range of max_tokens should be [1, 2000]")
    refused = await qwen_user.refused_at_no_cost(openai.BadRequestError, model="qwen-max", max_tokens=5000)

    error = refused.body
    assert "Range of max_tokens" in error["message"]
    assert error["type"] == "InvalidParameter" and error["code"] == "InvalidParameter"


async def test_wrong_dashscope_key_is_rejected(gateway: Gateway, dashscope: FakeDashScope):
    stranger = await customer(gateway, dashscope.url, ALI, "sk-wrong", "qwen-max")
    refused = await stranger.refused_at_no_cost(openai.AuthenticationError, model="qwen-max")

    assert "Invalid API-key provided." in refused.message
    assert refused.body["code"] == "InvalidApiKey"
