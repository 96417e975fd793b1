"""Unmodified Python clients against the gateway: openai-python (sync and async, the streaming helpers, tools,
``parse``, ``with_raw_response``, its error classes) and LangChain's ChatOpenAI / OpenAIEmbeddings, each on an
OpenAI, a Claude and a Gemini channel (fakes speaking each provider's wire format)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import openai
import orjson
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel

from oneapi.errors import REQUEST_ID_HEADER
from tests.conftest import Gateway
from tests.providers import CLIENT_UPSTREAMS, WEATHER_TOOL

QUESTION = {"role": "user", "content": "What is the weather in Paris?"}


@dataclass
class Upstream:
    """A channel of one type, with the models it serves and the text its fake answers."""

    fake: Any
    channel_type: int
    chat_model: str
    reply: str
    embedding_model: str | None = None




class Weather(BaseModel):
    city: str
    celsius: int


@pytest.fixture(params=list(CLIENT_UPSTREAMS))
async def upstream(request, serve_fake) -> Upstream:
    make_fake, channel_type, chat_model, reply, embedding_model = CLIENT_UPSTREAMS[request.param]
    return Upstream(await serve_fake(make_fake()), channel_type, chat_model, reply, embedding_model)


@pytest.fixture
async def key(gateway: Gateway, upstream: Upstream) -> str:
    models = ",".join(m for m in (upstream.chat_model, upstream.embedding_model) if m)
    await gateway.add_channel(upstream.fake.url, key=upstream.fake.key, models=models, type=upstream.channel_type)
    user = await gateway.add_user()
    return await gateway.add_token(user["access_token"])


def sync_client(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


async def test_sync_client(gateway: Gateway, upstream: Upstream, key: str):
    def calls() -> tuple[str, list[str], list[str], int]:
        with sync_client(gateway, key) as client:
            answer = client.chat.completions.create(model=upstream.chat_model, messages=[QUESTION])
            chunks = list(client.chat.completions.create(model=upstream.chat_model, messages=[QUESTION],
                                                         stream=True, stream_options={"include_usage": True}))
            models = [m.id for m in client.models.list()]
        usage = [c.usage.total_tokens for c in chunks if c.usage]
        text = [c.choices[0].delta.content or "" for c in chunks if c.choices]
        assert all(not c.choices for c in chunks if c.usage), "usage comes in its own chunk"
        return answer.choices[0].message.content or "", text, models, len(usage)

    content, pieces, models, usage_chunks = await asyncio.to_thread(calls)  # the gateway runs on this loop
    assert content == upstream.reply and "".join(pieces) == upstream.reply
    assert usage_chunks == 1 and upstream.chat_model in models


async def test_async_streaming_helper(gateway: Gateway, upstream: Upstream, key: str):
    client = gateway.openai(key)
    deltas = []
    async with client.chat.completions.stream(model=upstream.chat_model, messages=[QUESTION]) as stream:
        async for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
        final = await stream.get_final_completion()
    assert "".join(deltas) == upstream.reply == final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_round_trip(gateway: Gateway, upstream: Upstream, key: str, stream: bool):
    client = gateway.openai(key)
    if stream:
        async with client.chat.completions.stream(model=upstream.chat_model, messages=[QUESTION],
                                                  tools=[WEATHER_TOOL]) as events:
            first = await events.get_final_completion()
    else:
        first = await client.chat.completions.create(model=upstream.chat_model, messages=[QUESTION],
                                                     tools=[WEATHER_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = message.tool_calls
    assert call.function.name == "get_weather" and call.id
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}
    second = await client.chat.completions.create(model=upstream.chat_model, tools=[WEATHER_TOOL], messages=[
        QUESTION, message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "21 degrees and sunny"}])
    assert second.choices[0].message.content == upstream.reply


async def test_parse_returns_the_pydantic_object(gateway: Gateway, upstream: Upstream, key: str):
    client = gateway.openai(key)
    parsed = await client.chat.completions.parse(model=upstream.chat_model, messages=[QUESTION],
                                                 response_format=Weather)
    weather = parsed.choices[0].message.parsed
    assert isinstance(weather, Weather) and weather.city == "Paris" and weather.celsius == 21


async def test_raw_response_and_embeddings(gateway: Gateway, upstream: Upstream, key: str):
    client = gateway.openai(key)
    raw = await client.chat.completions.with_raw_response.create(model=upstream.chat_model, messages=[QUESTION])
    assert raw.status_code == 200 and raw.headers[REQUEST_ID_HEADER]
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().choices[0].message.content == upstream.reply
    if upstream.embedding_model is None:
        with pytest.raises(openai.NotFoundError):  # not listed on this channel
            await client.embeddings.create(model="text-embedding-3-small", input="x")
        return
    embedding = await client.embeddings.create(model=upstream.embedding_model, input=["a", "b"])  # base64 asked
    assert [d.index for d in embedding.data] == [0, 1]
    assert all(len(d.embedding) > 0 and all(isinstance(v, float) for v in d.embedding) for d in embedding.data)
    floats = await client.embeddings.create(model=upstream.embedding_model, input="a", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(embedding.data[0].embedding, rel=1e-6)


async def test_error_classes(gateway: Gateway, upstream: Upstream, key: str):
    client = gateway.openai(key)
    with pytest.raises(openai.AuthenticationError) as unknown_key:
        await gateway.openai("sk-not-a-token").chat.completions.create(model=upstream.chat_model,
                                                                       messages=[QUESTION])
    assert unknown_key.value.status_code == 401
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="no-such-model", messages=[QUESTION])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model=upstream.chat_model, messages="not a list")  # type: ignore[arg-type]
    assert bad.value.status_code == 400 and isinstance(bad.value.message, str)
    upstream.fake.key = "rotated"  # the channel's key no longer works upstream
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(model=upstream.chat_model, messages=[QUESTION])
    assert refused.value.status_code in (400, 401, 403)
    assert refused.value.code is None or isinstance(refused.value.code, str)


async def test_langchain_chat_tools_and_embeddings(gateway: Gateway, upstream: Upstream, key: str):
    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "21 degrees and sunny"

    chat = ChatOpenAI(model=upstream.chat_model, base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    assert (await chat.ainvoke("Hi")).content == upstream.reply
    streamed = "".join([str(chunk.content) async for chunk in chat.astream("Hi")])
    assert streamed == upstream.reply
    with_tools = chat.bind_tools([get_weather])
    question = HumanMessage("What is the weather in Paris?")
    called = await with_tools.ainvoke([question])
    [call] = called.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Paris"}
    answer = await with_tools.ainvoke([question, called, ToolMessage(get_weather.invoke(call["args"]),
                                                                     tool_call_id=call["id"])])
    assert answer.content == upstream.reply
    structured = await chat.with_structured_output(Weather).ainvoke("Weather in Paris?")
    assert structured == Weather(city="Paris", celsius=21)
    if upstream.embedding_model is not None:
        embeddings = OpenAIEmbeddings(model=upstream.embedding_model, base_url=gateway.url + "/v1", api_key=key,
                                      max_retries=0, check_embedding_ctx_length=False)
        vectors = await embeddings.aembed_documents(["a", "b"])
        assert len(vectors) == 2 and all(len(v) > 0 for v in vectors)
        assert await embeddings.aembed_query("a") == pytest.approx(vectors[0], rel=1e-6)
