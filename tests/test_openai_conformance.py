"""Every provider, through the gateway, answers exactly as OpenAI does: chat completions, stream chunks (with
and without the usage chunk), tool-call deltas, embeddings (floats and base64) and errors, each checked by
``tests.openai_schema`` on the bytes the client receives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Gateway
from tests.openai_schema import check_completion, check_embeddings, check_error, check_stream, relay
from tests.provider_cases import Case, cases
from tests.providers import HI, WEATHER_TOOL

CHAT = "/v1/chat/completions"


@cases()
async def test_chat_completion(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)

    status, answer = await relay(gateway, buyer.key, CHAT, {"model": case.chat_model, "messages": HI})

    assert status == 200, answer
    completion = check_completion(answer)
    assert completion.choices[0].message.content and completion.usage.total_tokens > 0


@cases()
@pytest.mark.parametrize("include_usage", [True, False], ids=["include_usage", "no_usage"])
async def test_stream_chunks(gateway: Gateway, serve_fake: Any, case: Case, include_usage: bool):
    _, buyer = await case.wire(gateway, serve_fake)
    body = {"model": case.chat_model, "messages": HI, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}

    status, events = await relay(gateway, buyer.key, CHAT, body)

    assert status == 200, events
    chunks = check_stream(events, include_usage)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] is not None
    if include_usage:
        assert chunks[-1].usage.total_tokens > 0


@cases(having=lambda case: case.tools)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_tool_calls(gateway: Gateway, serve_fake: Any, case: Case, stream: bool):
    _, buyer = await case.wire(gateway, serve_fake)
    body = {"model": case.chat_model, "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [WEATHER_TOOL], "stream": stream}

    status, answer = await relay(gateway, buyer.key, CHAT, body)

    assert status == 200, answer
    if stream:
        chunks = check_stream(answer, include_usage=False)
        calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or ()]
        assert calls and calls[0].id and calls[0].function.name == "get_weather", answer
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        completion = check_completion(answer)
        assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"
        assert completion.choices[0].finish_reason == "tool_calls"


@cases()
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_upstream_refusal_is_an_openai_error(gateway: Gateway, serve_fake: Any, case: Case, stream: bool):
    fake, buyer = await case.wire(gateway, serve_fake, refused=True)

    status, answer = await relay(gateway, buyer.key, CHAT,
                                 {"model": case.refused_model(fake), "messages": HI, "stream": stream})

    assert status >= 400, answer
    check_error(answer)


@cases(having=lambda case: case.embedding_model)
@pytest.mark.parametrize("encoding_format", ["float", "base64"])
async def test_embeddings(gateway: Gateway, serve_fake: Any, case: Case, encoding_format: str):
    _, buyer = await case.wire(gateway, serve_fake)

    status, answer = await relay(gateway, buyer.key, "/v1/embeddings", {
        "model": case.embedding_model, "input": ["first", "second"], "encoding_format": encoding_format})

    assert status == 200, answer
    vectors = check_embeddings(answer, encoding_format)
    assert len(vectors) == 2 and all(vectors)
    assert [item["index"] for item in answer["data"]] == [0, 1]


@cases(having=lambda case: case.dimensions)
async def test_embeddings_are_shortened_to_the_dimensions_asked_for(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)

    result = await buyer.client.embeddings.create(model=case.embedding_model, input=["first", "second"], dimensions=5)

    assert [len(item.embedding) for item in result.data] == [5, 5]


@cases(having=lambda case: case.embedding_model)
async def test_the_sdk_reads_embeddings_it_asked_for_in_base64(gateway: Gateway, serve_fake: Any, case: Case):
    _, buyer = await case.wire(gateway, serve_fake)
    plain = await buyer.client.embeddings.create(model=case.embedding_model, input="first", encoding_format="float")

    default = await buyer.client.embeddings.create(model=case.embedding_model, input="first")  # asks for base64

    assert default.data[0].embedding == pytest.approx(plain.data[0].embedding, rel=1e-6)
