"""The Anthropic Messages front door (/v1/messages), driven by the official anthropic SDK: natively to a Claude
channel, converted to an OpenAI one, with Anthropic's events, errors and exact billing."""

from __future__ import annotations

import math

import anthropic
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent

from oneapi.billing import ratios
from oneapi.constants import ChannelType
from oneapi.options import Options
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers import RED_PNG_B64, fake_upstream, wire

CLAUDE = "claude-3-5-sonnet-20241022"
GPT = "gpt-4o-mini"
WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}

claude = fake_upstream(FakeAnthropic)
gpt = fake_upstream(FakeOpenAI)


def sdk(gateway: Gateway, key: str) -> anthropic.AsyncAnthropic:
    """The official client pointed at the gateway (closed with the gateway's other clients)."""
    client = anthropic.AsyncAnthropic(api_key=key, base_url=gateway.url, max_retries=0)
    gateway.clients.append(client)  # type: ignore[arg-type]
    return client


async def test_native_claude_keeps_cache_control_and_bills_cache_tokens_by_their_own_ratios(
        gateway: Gateway, claude: FakeAnthropic):
    claude.cache = (1000, 4000)
    buyer = await wire(gateway, claude, ChannelType.ANTHROPIC, CLAUDE)
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    answer = await sdk(gateway, buyer.key).messages.create(
        model=CLAUDE, max_tokens=64, system=system, metadata={"user_id": "u-1"}, stop_sequences=["END"],
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": RED_PNG_B64}}]}],
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})

    assert isinstance(answer, Message)
    assert answer.content[0].text == claude.reply
    assert (answer.usage.cache_creation_input_tokens, answer.usage.cache_read_input_tokens) == (1000, 4000)
    sent = claude.requests[-1]
    assert sent["system"] == system and sent["metadata"] == {"user_id": "u-1"}  # as the client sent it
    assert claude.headers[-1]["anthropic-beta"] == "prompt-caching-2024-07-31"
    await gateway.drain()
    log = (await buyer.logs())[0]
    options = Options()
    ratio = ratios.model_ratio(options, CLAUDE, ChannelType.ANTHROPIC)
    completion_ratio = ratios.completion_ratio(options, CLAUDE, ChannelType.ANTHROPIC)
    prompt = 13 + 1000 * 1.25 + 4000 * 0.1
    assert (log["prompt_tokens"], log["completion_tokens"]) == (13 + 5000, 5)
    assert log["quota"] == math.ceil((prompt + 5 * completion_ratio) * ratio)
    assert "Anthropic Messages" in log["content"]


async def test_converted_to_openai_with_tools_round_trip(gateway: Gateway, gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    client = sdk(gateway, buyer.key)
    question = {"role": "user", "content": "Weather in Paris?"}
    answer = await client.messages.create(model=GPT, max_tokens=100, system="Be brief.", tools=[WEATHER],
                                          tool_choice={"type": "auto"}, messages=[question],
                                          extra_body={"temperature": 0.2})

    assert isinstance(answer, Message) and answer.stop_reason == "tool_use"
    use = answer.content[0]
    assert (use.type, use.name, use.input) == ("tool_use", "get_weather", {"city": "Paris"})
    sent = gpt.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, question]
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    assert sent["max_tokens"] == 100 and sent["temperature"] == 0.2 and sent["tool_choice"] == "auto"

    final = await client.messages.create(model=GPT, max_tokens=100, tools=[WEATHER], messages=[
        question, {"role": "assistant", "content": answer.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny"}]}])
    assert final.content[0].text == gpt.reply and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11, 7)
    assert gpt.requests[-1]["messages"][-2:] == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": use.id, "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": use.id, "content": "Sunny"}]
    await buyer.assert_billed(GPT, ChannelType.OPENAI, 11, 7, requests=2)


@pytest.mark.parametrize("channel", ["native", "converted"])
async def test_stream_has_anthropics_event_sequence(gateway: Gateway, claude: FakeAnthropic, gpt: FakeOpenAI,
                                                    channel: str):
    fake, kind, model = (claude, ChannelType.ANTHROPIC, CLAUDE) if channel == "native" else (
        gpt, ChannelType.OPENAI, GPT)
    buyer = await wire(gateway, fake, kind, model)
    events: list[RawMessageStreamEvent] = []
    async with sdk(gateway, buyer.key).messages.stream(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "Hi"}]) as stream:
        async for item in stream:
            if item.type in ("message_start", "content_block_start", "content_block_delta", "content_block_stop",
                             "message_delta", "message_stop"):
                events.append(item)
        final = await stream.get_final_message()

    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_delta" in kinds and kinds.count("content_block_start") == kinds.count("content_block_stop")
    assert final.content[0].text == fake.reply and final.stop_reason == "end_turn"
    prompt, completion = fake.usage
    assert final.usage.output_tokens == completion
    await buyer.assert_billed(model, kind, prompt, completion)


async def test_converted_stream_says_tool_calls_as_input_json_deltas(gateway: Gateway, gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    async with sdk(gateway, buyer.key).messages.stream(
            model=GPT, max_tokens=50, tools=[WEATHER], messages=[{"role": "user", "content": "Paris?"}]) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert set(deltas) == {"input_json_delta"}
    assert final.stop_reason == "tool_use"
    assert (final.content[0].name, final.content[0].input) == ("get_weather", {"city": "Paris"})


async def test_count_tokens_asks_claude_and_counts_locally_otherwise(gateway: Gateway, claude: FakeAnthropic,
                                                                     gpt: FakeOpenAI):
    await wire(gateway, claude, ChannelType.ANTHROPIC, CLAUDE)
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    client = sdk(gateway, buyer.key)
    messages = [{"role": "user", "content": "Hello there, how are you today?"}]
    native = await client.messages.count_tokens(model=CLAUDE, messages=messages, system="Be brief.")
    assert native.input_tokens == 13 and claude.requests[-1]["system"] == "Be brief."
    local = await client.messages.count_tokens(model=GPT, messages=messages)
    assert 5 < local.input_tokens < 30
    assert not gpt.requests
    assert await buyer.logs() == []  # counting is free


async def test_errors_are_anthropics_shape_and_status(gateway: Gateway, gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    async with gateway.http.post(gateway.url + "/v1/messages", headers={"x-api-key": buyer.key},
                                 json={"model": GPT, "messages": [{"role": "user", "content": "Hi"}]}) as resp:
        assert resp.status == 400
        assert await resp.json() == {"type": "error", "error": {"type": "invalid_request_error",
                                                                "message": "max_tokens: Field required"}}
    with pytest.raises(anthropic.AuthenticationError) as denied:
        await sdk(gateway, "sk-wrong").messages.create(model=GPT, max_tokens=5,
                                                      messages=[{"role": "user", "content": "Hi"}])
    assert denied.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.NotFoundError) as missing:
        await sdk(gateway, buyer.key).messages.create(model="no-such-model", max_tokens=5,
                                                     messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert not gpt.requests


async def test_claude_code_style_streaming_request_with_tools_and_thinking(gateway: Gateway,
                                                                        claude: FakeAnthropic):
    """Headers and body as Claude Code sends them; the thinking signature and tool input reach it intact."""
    buyer = await wire(gateway, claude, ChannelType.ANTHROPIC, CLAUDE)
    headers = {"Authorization": f"Bearer {buyer.key}", "anthropic-version": "2023-06-01",
               "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
               "x-app": "cli", "User-Agent": "claude-cli/2.0.0 (external, cli)",
               "anthropic-dangerous-direct-browser-access": "true"}
    body = {"model": CLAUDE, "max_tokens": 32000, "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 31999},
            "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            "tools": [WEATHER], "metadata": {"user_id": "user_abc_account__session_1"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?",
                                                       "cache_control": {"type": "ephemeral"}}]}]}
    async with gateway.http.post(gateway.url + "/v1/messages?beta=true", headers=headers, json=body) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        raw = (await resp.read()).decode()
    events = [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names == [e["type"] for e in events]
    deltas = {e["delta"]["type"] for e in events if e["type"] == "content_block_delta"}
    assert {"thinking_delta", "signature_delta", "input_json_delta"} <= deltas
    assert "ping" in names and names[-1] == "message_stop"
    assert claude.requests[-1] == {k: v for k, v in body.items()}
    assert claude.headers[-1]["anthropic-beta"] == headers["anthropic-beta"]
    await buyer.assert_billed(CLAUDE, ChannelType.ANTHROPIC, *claude.usage)


async def test_converted_thinking_comes_back_as_thinking_blocks(gateway: Gateway, serve_fake):
    """Thinking asked of a Gemini channel: its thought summary is the thinking block (and thinking_delta)."""
    gemini = await serve_fake(FakeGemini())
    buyer = await wire(gateway, gemini, ChannelType.GEMINI, "gemini-2.5-flash")
    client = sdk(gateway, buyer.key)
    request = {"model": "gemini-2.5-flash", "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048},
               "messages": [{"role": "user", "content": "Hi"}]}
    answer = await client.messages.create(**request)
    assert [block.type for block in answer.content] == ["thinking", "text"]
    assert answer.content[0].thinking == gemini.thoughts and answer.content[1].text == gemini.reply
    assert gemini.requests[-1]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024,
                                                                        "includeThoughts": True}
    async with client.messages.stream(**request) as stream:
        deltas = [event.delta.type async for event in stream if event.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert deltas[0] == "thinking_delta" and "text_delta" in deltas
    assert final.content[0].thinking == gemini.thoughts
