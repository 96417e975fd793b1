"""The Gemini front door (/v1beta/models/{model}:generateContent), driven by google-genai: natively to a Gemini
channel, converted to chat for OpenAI and Claude channels, with Google's errors and exact billing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google import genai
from google.genai import types

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers import fake_upstream, wire

GEMINI = "gemini-2.0-flash"
GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-20241022"
WEATHER = types.Tool(function_declarations=[types.FunctionDeclaration(
    name="get_weather", description="The weather in a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]))])

gemini = fake_upstream(FakeGemini)
gpt = fake_upstream(FakeOpenAI)
claude = fake_upstream(FakeAnthropic)


@pytest.fixture
async def sdk(gateway: Gateway) -> AsyncIterator[object]:
    clients: list[genai.Client] = []

    def make(key: str) -> genai.client.AsyncClient:
        client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gateway.url))
        clients.append(client)
        return client.aio

    yield make
    for client in clients:
        await client.aio.aclose()


async def test_native_gemini_gets_the_request_as_it_is(gateway: Gateway, gemini: FakeGemini, sdk):
    buyer = await wire(gateway, gemini, ChannelType.GEMINI, GEMINI)
    answer = await sdk(buyer.key).models.generate_content(
        model=GEMINI, contents="Hi", config=types.GenerateContentConfig(system_instruction="Be brief.",
                                                                        temperature=0.3, max_output_tokens=64))
    assert isinstance(answer, types.GenerateContentResponse)
    assert answer.text == gemini.reply
    assert (answer.usage_metadata.prompt_token_count, answer.usage_metadata.candidates_token_count) == (130, 50)
    sent = gemini.requests[-1]
    assert sent["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert sent["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 64}  # as the client sent it
    await buyer.assert_billed(GEMINI, ChannelType.GEMINI, 130, 50)


async def test_converted_to_openai_with_a_function_call_round_trip(gateway: Gateway, gpt: FakeOpenAI, sdk):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    models = sdk(buyer.key).models
    config = types.GenerateContentConfig(tools=[WEATHER], system_instruction="Be brief.", temperature=0.2)
    question = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    first = await models.generate_content(model=GPT, contents=[question], config=config)
    call = first.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    sent = gpt.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]}]
    assert sent["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}
    assert sent["temperature"] == 0.2

    reply = types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        name="get_weather", response={"sky": "sunny"}))])
    second = await models.generate_content(model=GPT, contents=[question, first.candidates[0].content, reply],
                                           config=config)
    assert second.text == gpt.reply
    assert second.candidates[0].finish_reason == types.FinishReason.STOP
    tool_message = gpt.requests[-1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == '{"sky":"sunny"}'
    assert tool_message["tool_call_id"] == gpt.requests[-1]["messages"][-2]["tool_calls"][0]["id"]
    await buyer.assert_billed(GPT, ChannelType.OPENAI, 11, 7, requests=2)


@pytest.mark.parametrize("channel", ["native", "converted"])
async def test_stream(gateway: Gateway, gemini: FakeGemini, claude: FakeAnthropic, sdk, channel: str):
    fake, kind, model = (gemini, ChannelType.GEMINI, GEMINI) if channel == "native" else (
        claude, ChannelType.ANTHROPIC, CLAUDE)
    buyer = await wire(gateway, fake, kind, model)
    chunks = [chunk async for chunk in await sdk(buyer.key).models.generate_content_stream(model=model,
                                                                                          contents="Hi")]
    assert all(isinstance(chunk, types.GenerateContentResponse) for chunk in chunks)
    assert "".join(chunk.text or "" for chunk in chunks) == fake.reply
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    await buyer.assert_billed(model, kind, *fake.usage)


async def test_key_in_the_query_and_errors_in_googles_shape(gateway: Gateway, gpt: FakeOpenAI):
    buyer = await wire(gateway, gpt, ChannelType.OPENAI, GPT)
    url = f"{gateway.url}/v1beta/models/{GPT}:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    async with gateway.http.post(f"{url}?key={buyer.key}", json=body) as resp:
        assert resp.status == 200
        assert (await resp.json())["candidates"][0]["content"]["parts"] == [{"text": gpt.reply}]
    async with gateway.http.post(f"{url}?key=sk-wrong", json=body) as resp:
        assert resp.status == 401
        error = (await resp.json())["error"]
        assert (error["code"], error["status"]) == (401, "UNAUTHENTICATED")
    async with gateway.http.post(url, headers={"x-goog-api-key": buyer.key}, json={"contents": []}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"
