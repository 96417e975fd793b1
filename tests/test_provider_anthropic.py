"""Anthropic Claude channels (type 14) through the gateway, with the official OpenAI SDK as the client."""

from __future__ import annotations

import openai
import orjson
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.providers import RED_PNG_B64, RED_PNG_DATA_URL, WEATHER_TOOL, fake_upstream, stream_chat, tool_reply, wire

MODEL = "claude-3-haiku-20240307"
TYPE = ChannelType.ANTHROPIC


claude = fake_upstream(FakeAnthropic)


async def test_chat_hoists_every_system_message_forwards_stop_and_bills_claude_usage(gateway: Gateway,
                                                                                    claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    answer = await wired.client.chat.completions.create(
        model=MODEL, stop="END",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "system", "content": [{"type": "text", "text": "Answer in English."}]}])

    assert answer.choices[0].message.content == claude.reply
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == MODEL
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (13, 5, 18)
    sent = claude.requests[-1]
    assert sent["system"] == "Be brief.\n\nAnswer in English."
    assert sent["stop_sequences"] == ["END"]
    assert sent["max_tokens"] == 4096
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    headers = claude.headers[-1]
    assert headers["x-api-key"] == claude.key and headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers
    await wired.assert_billed(MODEL, TYPE, 13, 5)


async def test_stream_keeps_finish_reason_null_until_the_end_and_reports_claude_usage(gateway: Gateway,
                                                                                     claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                               max_tokens=50, stream_options={"include_usage": True},
                               extra_headers={"anthropic-version": "2023-01-01"})

    with_choices = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == claude.reply
    assert [c.choices[0].finish_reason for c in with_choices[:-1]] == [None] * (len(with_choices) - 1)
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert with_choices[0].choices[0].delta.role == "assistant"
    # message_start says output_tokens 1, message_delta says 5 in all: the bill is 5, not 6.
    assert chunks[-1].choices == [] and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (13, 5)
    assert claude.requests[-1]["stream"] is True and claude.requests[-1]["max_tokens"] == 50
    assert claude.headers[-1]["anthropic-version"] == "2023-01-01"
    await wired.assert_billed(MODEL, TYPE, 13, 5)


async def test_tool_calls_round_trip_with_consecutive_tool_results_merged(gateway: Gateway, claude: FakeAnthropic):
    claude.tool_uses = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    claude.lead_text = "Let me check."
    wired = await wire(gateway, claude, TYPE, MODEL)
    question, first = await wired.required_tool_calls(MODEL)

    message = first.choices[0].message
    assert message.content == "Let me check."
    assert [c.id for c in message.tool_calls] == ["toolu_fake0", "toolu_fake1"]
    sent = claude.requests[-1]
    assert sent["tools"] == [{"name": "get_weather", "description": "The weather in a city",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any"}

    second = await wired.client.chat.completions.create(model=MODEL, tools=[WEATHER_TOOL], messages=[
        *tool_reply(question, first, "Sunny", "Rainy"), {"role": "user", "content": "Which is nicer?"}])

    assert second.choices[0].message.content == claude.reply
    turns = claude.requests[-1]["messages"]
    assert [turn["role"] for turn in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_fake0", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_fake1", "name": "get_weather", "input": {"city": "Rome"}}]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_fake0", "content": "Sunny"},
        {"type": "tool_result", "tool_use_id": "toolu_fake1", "content": "Rainy"},
        {"type": "text", "text": "Which is nicer?"}]
    await wired.assert_billed(MODEL, TYPE, 13, 5, requests=2)


async def test_streamed_tool_calls_carry_their_index_and_complete_arguments(gateway: Gateway,
                                                                            claude: FakeAnthropic):
    claude.tool_uses = [("get_weather", {"city": "Paris"}), ("get_weather", {})]
    claude.lead_text = "Checking."
    wired = await wire(gateway, claude, TYPE, MODEL)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Weather?"}],
                               tools=[WEATHER_TOOL])

    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or ():
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += delta.id or ""
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert {i: (c["id"], c["name"], orjson.loads(c["arguments"])) for i, c in calls.items()} == {
        0: ("toolu_fake0", "get_weather", {"city": "Paris"}), 1: ("toolu_fake1", "get_weather", {})}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Checking."
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["tool_calls"]
    await wired.assert_billed(MODEL, TYPE, 13, 5)


async def test_images_go_as_base64_and_url_sources(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": RED_PNG_DATA_URL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]}])

    assert claude.requests[-1]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": RED_PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


async def test_wrong_key_is_refused_by_claude_and_surfaced_as_401(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL, key="sk-ant-wrong")
    refused = await wired.refused_at_no_cost(openai.AuthenticationError, model=MODEL)

    assert refused.status_code == 401
    assert "invalid x-api-key" in refused.message
    assert refused.body["type"] == "authentication_error"
    assert claude.headers[-1]["x-api-key"] == "sk-ant-wrong"


async def test_upstream_errors_keep_claude_type_and_a_sensible_status(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    messages = [{"role": "user", "content": "Hi"}]
    claude.fail_next(529, "overloaded_error", "Overloaded")
    with pytest.raises(openai.InternalServerError) as overloaded:
        await wired.client.chat.completions.create(model=MODEL, messages=messages)
    assert overloaded.value.status_code == 503
    assert overloaded.value.body["type"] == overloaded.value.body["code"] == "overloaded_error"
    assert "Overloaded" in overloaded.value.message

    claude.fail_next(429, "rate_limit_error", "Number of requests has exceeded your rate limit")
    with pytest.raises(openai.RateLimitError) as limited:
        await wired.client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    assert limited.value.status_code == 429 and limited.value.body["type"] == "rate_limit_error"

    # A request Claude refuses (an assistant turn first) comes back as Claude's own 400.
    with pytest.raises(openai.BadRequestError) as refused:
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "assistant", "content": "Hi"}])
    assert "first message" in refused.value.message
    assert refused.value.body["type"] == "invalid_request_error"


async def test_an_error_event_mid_stream_reaches_the_client(gateway: Gateway, claude: FakeAnthropic):
    claude.stream_error = {"type": "overloaded_error", "message": "Overloaded"}
    wired = await wire(gateway, claude, TYPE, MODEL)
    stream = await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                        stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert "Overloaded" in caught.value.message
    assert "".join(r or "" for r in received) == claude.reply[: len("".join(r or "" for r in received))] != ""


async def test_legacy_functions_round_trip_as_claude_tools(gateway: Gateway, claude: FakeAnthropic):
    claude.tool_uses = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    wired = await wire(gateway, claude, TYPE, MODEL)
    first, second = await wired.legacy_function_round_trip(MODEL)

    assert first.choices[0].message.content is None
    sent = claude.requests[-2]
    assert sent["tools"] == [{"name": "get_weather", "description": "The weather in a city",
                              "input_schema": WEATHER_TOOL["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert second.choices[0].message.content == claude.reply
    turns = claude.requests[-1]["messages"]
    [tool_use] = turns[1]["content"]
    assert tool_use == {"type": "tool_use", "id": tool_use["id"], "name": "get_weather", "input": {"city": "Paris"}}
    assert turns[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tool_use["id"], "content": "Sunny"}]}
    await wired.assert_billed(MODEL, TYPE, 13, 5, requests=2)

    # A function result that answers no earlier function_call cannot be said with tools.
    with pytest.raises(openai.BadRequestError) as orphan:
        await wired.client.chat.completions.create(model=MODEL, functions=[WEATHER_TOOL["function"]], messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "function", "name": "get_weather", "content": "Sunny"}])
    assert orphan.value.code == "convert_request_failed" and "function_call" in orphan.value.message


async def test_streamed_legacy_function_call(gateway: Gateway, claude: FakeAnthropic):
    claude.tool_uses = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    wired = await wire(gateway, claude, TYPE, MODEL)
    name, arguments, chunks = await wired.streamed_legacy_function_call(MODEL)

    assert (name, arguments) == ("get_weather", {"city": "Paris"})
    assert [c.choices[0].finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert claude.requests[-1]["tool_choice"] == {"type": "auto"}
    await wired.assert_billed(MODEL, TYPE, 13, 5)


async def test_thinking_comes_back_as_reasoning_content_and_is_billed_as_completion(gateway: Gateway,
                                                                                   claude: FakeAnthropic):
    claude.usage = (13, 60)  # Claude's output_tokens count the thinking too
    wired = await wire(gateway, claude, TYPE, MODEL)
    answer = await wired.client.chat.completions.create(
        model=MODEL, max_tokens=3000, messages=[{"role": "user", "content": "Hi"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}})

    message = answer.choices[0].message
    assert message.content == claude.reply
    assert message.reasoning_content == claude.thoughts
    assert claude.requests[-1]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert claude.requests[-1]["max_tokens"] == 3000
    await wired.assert_billed(MODEL, TYPE, 13, 60)


async def test_streamed_thinking_comes_as_reasoning_content_deltas(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    chunks = await wired.streamed_thinking(MODEL, "medium", claude.thoughts, claude.reply)
    # No max_tokens from the client: the thinking budget comes on top of the usual room for the answer.
    assert claude.requests[-1]["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert claude.requests[-1]["max_tokens"] == 4096 + 4096
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (13, 5)
    await wired.assert_billed(MODEL, TYPE, 13, 5)


async def test_reasoning_effort_maps_to_a_thinking_budget(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    hi = [{"role": "user", "content": "Hi"}]
    for effort, budget in (("low", 1024), ("medium", 4096), ("high", 16384)):
        await wired.client.chat.completions.create(model=MODEL, messages=hi, reasoning_effort=effort,
                                                   max_tokens=20000)
        assert claude.requests[-1]["thinking"] == {"type": "enabled", "budget_tokens": budget}, effort

    answer = await wired.client.chat.completions.create(model=MODEL, messages=hi, reasoning_effort="none")
    assert "thinking" not in claude.requests[-1]
    assert getattr(answer.choices[0].message, "reasoning_content", None) is None

    await wired.assert_unknown_effort_refused(MODEL, claude.requests)


async def test_an_invalid_thinking_budget_is_claudes_400(gateway: Gateway, claude: FakeAnthropic):
    wired = await wire(gateway, claude, TYPE, MODEL)
    hi = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as too_small:
        await wired.client.chat.completions.create(model=MODEL, messages=hi,
                                                   extra_body={"thinking": {"type": "enabled", "budget_tokens": 512}})
    assert too_small.value.status_code == 400
    assert too_small.value.body["type"] == too_small.value.body["code"] == "invalid_request_error"
    assert "greater than or equal to 1024" in too_small.value.message

    with pytest.raises(openai.BadRequestError) as over_max:
        await wired.client.chat.completions.create(model=MODEL, messages=hi, max_tokens=2000, stream=True,
                                                   reasoning_effort="high")
    assert over_max.value.status_code == 400 and over_max.value.body["type"] == "invalid_request_error"
    assert "`max_tokens` must be greater than `thinking.budget_tokens`" in over_max.value.message
    assert claude.requests[-1]["thinking"]["budget_tokens"] == 16384
    assert await wired.logs() == []
