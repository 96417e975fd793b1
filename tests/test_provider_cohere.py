"""Cohere channels (type 35): OpenAI chat in, Cohere's v1 /v1/chat out, tools included."""

from __future__ import annotations

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.cohere import FakeCohere
from tests.providers import Customer, customer, expected_quota, fake_upstream

COHERE = ChannelType.COHERE
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string", "description": "the city"}},
                   "required": ["location"]}}}


cohere = fake_upstream(FakeCohere)


@pytest.fixture
async def cohere_user(gateway: Gateway, cohere: FakeCohere) -> Customer:
    return await customer(gateway, cohere.url, COHERE, cohere.key, "command-r,command-r-internet")


async def test_chat_splits_history_and_bills_meta_tokens(cohere_user: Customer, cohere: FakeCohere):
    answer = await cohere_user.client.chat.completions.create(model="command-r", top_p=0.5, max_tokens=100, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"}])

    assert answer.choices[0].message.content == "Hello from Cohere" and answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (21, 9)
    sent = cohere.requests[-1]
    assert sent["message"] == "How are you?" and sent["model"] == "command-r"
    assert sent["chat_history"] == [{"role": "SYSTEM", "message": "Be brief."}, {"role": "USER", "message": "Hi"},
                                    {"role": "CHATBOT", "message": "Hello!"}]
    assert (sent["p"], sent["max_tokens"], sent["stream"]) == (0.5, 100, False) and "connectors" not in sent
    assert cohere.headers[-1]["Authorization"] == f"Bearer {cohere.key}"
    [log] = await cohere_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 9)
    assert log["quota"] == expected_quota(21, 9, "command-r", COHERE)


async def test_stream_events_become_chunks(cohere_user: Customer, cohere: FakeCohere):
    await cohere_user.streamed_hi_billed("command-r", COHERE, "Hello from Cohere", (21, 9))

    assert cohere.requests[-1]["stream"] is True


async def test_internet_suffix_adds_the_web_search_connector(cohere_user: Customer, cohere: FakeCohere):
    await cohere_user.client.chat.completions.create(model="command-r-internet",
                                                     messages=[{"role": "user", "content": "news?"}])
    sent = cohere.requests[-1]
    assert sent["model"] == "command-r" and sent["connectors"] == [{"id": "web-search"}]
    [log] = await cohere_user.logs()
    # One API strips -internet for the model ratio but not for the completion ratio
    assert log["quota"] == expected_quota(21, 9, "command-r-internet", COHERE)


async def test_tool_call_round_trip(cohere_user: Customer, cohere: FakeCohere):
    _, second = await cohere_user.tool_round_trip("command-r", "Weather in Toronto?", WEATHER_TOOL,
                                                  {"location": "Toronto"}, '{"temperature": "21C"}')

    assert cohere.requests[-2]["tools"] == [{"name": "get_weather", "description": "Current weather of a city",
                                             "parameter_definitions": {"location": {
                                                 "type": "str", "required": True, "description": "the city"}}}]
    assert second.choices[0].message.content == 'The tool said: [{"temperature":"21C"}]'
    sent = cohere.requests[-1]
    assert sent["message"] == "" and sent["tool_results"] == [
        {"call": {"name": "get_weather", "parameters": {"location": "Toronto"}}, "outputs": [{"temperature": "21C"}]}]
    assert sent["chat_history"][-1]["role"] == "CHATBOT"
    assert sent["chat_history"][-1]["tool_calls"] == [{"name": "get_weather", "parameters": {"location": "Toronto"}}]


async def test_cohere_error_reaches_the_client_in_openai_shape(cohere_user: Customer, cohere: FakeCohere):
    cohere.fail_next(429, "You are using a Trial key, which is limited to 10 API calls / minute.")
    refused = await cohere_user.refused_at_no_cost(openai.RateLimitError, model="command-r")

    assert refused.status_code == 429 and refused.body["type"]


async def test_wrong_cohere_key_is_rejected(gateway: Gateway, cohere: FakeCohere):
    stranger = await customer(gateway, cohere.url, COHERE, "co-wrong", "command-r")
    with pytest.raises(openai.AuthenticationError) as caught:
        await stranger.client.chat.completions.create(model="command-r", messages=[{"role": "user", "content": "x"}])
    assert "invalid api token" in caught.value.body["message"]
