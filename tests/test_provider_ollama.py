"""Ollama channels (type 30): OpenAI requests in, Ollama's native /api/chat and /api/embed out."""

from __future__ import annotations

import base64

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.ollama import FakeOllama
from tests.providers import Customer, customer, expected_quota, fake_upstream

OLLAMA = ChannelType.OLLAMA
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n-one-pixel").decode()


ollama = fake_upstream(FakeOllama)


@pytest.fixture
async def llama_user(gateway: Gateway, ollama: FakeOllama) -> Customer:
    return await customer(gateway, ollama.url, OLLAMA, "no-key-needed", "llama3:latest,nomic-embed-text,mistral:7b")


async def test_chat_is_converted_and_billed_from_eval_counts(llama_user: Customer, ollama: FakeOllama):
    answer = await llama_user.client.chat.completions.create(
        model="llama3:latest", max_tokens=64, temperature=0.2, seed=7,
        messages=[{"role": "system", "content": "Be kind."}, {"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}]}])

    assert answer.choices[0].message.content == "Hello from Ollama"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (26, 8)
    sent = ollama.requests[-1]
    assert ollama.paths[-1] == "/api/chat" and sent["stream"] is False
    assert sent["options"] == {"num_predict": 64, "temperature": 0.2, "seed": 7}
    assert sent["messages"] == [{"role": "system", "content": "Be kind."},
                                {"role": "user", "content": "What is in this picture?", "images": [PIXEL]}]
    [log] = await llama_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (26, 8)
    assert log["quota"] == expected_quota(26, 8, "llama3:latest", OLLAMA) == (26 + 8) * 30  # no default price


async def test_ndjson_stream_becomes_sse(llama_user: Customer, ollama: FakeOllama):
    await llama_user.streamed_hi_billed("llama3:latest", OLLAMA, "Hello from Ollama", (26, 8))

    assert ollama.requests[-1]["stream"] is True


async def test_embeddings_use_api_embed(llama_user: Customer, ollama: FakeOllama):
    result = await llama_user.client.embeddings.create(model="nomic-embed-text", input=["a", "b", "c"])

    assert ollama.paths[-1] == "/api/embed" and ollama.requests[-1]["input"] == ["a", "b", "c"]
    assert [item.index for item in result.data] == [0, 1, 2]
    assert result.data[2].embedding == pytest.approx([0.02, -0.02, 0.03], rel=1e-6)
    [log] = await llama_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (6, 0)
    assert log["quota"] == expected_quota(6, 0, "nomic-embed-text", OLLAMA)


async def test_missing_model_error_reaches_the_client(llama_user: Customer):
    refused = await llama_user.refused_at_no_cost(openai.NotFoundError, model="mistral:7b")

    assert 'model "mistral:7b" not found' in refused.body["message"]


async def test_remote_image_urls_are_refused_before_calling_ollama(llama_user: Customer, ollama: FakeOllama):
    with pytest.raises(openai.BadRequestError) as caught:
        await llama_user.client.chat.completions.create(model="llama3:latest", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}])
    assert "data: URLs" in caught.value.body["message"] and ollama.requests == []
