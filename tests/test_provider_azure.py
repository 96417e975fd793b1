"""Azure OpenAI channels (type 3) through the gateway, with the official OpenAI SDK as the client."""

from __future__ import annotations

import openai
import orjson
import pytest

from oneapi.adaptors.azure import deployment_url
from oneapi.billing import ratios
from oneapi.constants import ChannelType
from oneapi.options import Options
from tests.conftest import Gateway
from tests.fakes.azure import FakeAzure
from tests.providers import WEATHER_TOOL, fake_upstream, stream_chat, streamed_text, tool_reply, wire

MODEL = "gpt-3.5-turbo"
TYPE = ChannelType.AZURE
NEW_API = '{"api_version": "2024-10-21"}'
OLD_API = '{"api_version": "2024-02-01"}'


azure = fake_upstream(FakeAzure)


async def test_chat_goes_to_the_deployment_with_the_channel_api_version(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, config=NEW_API)
    answer = await wired.client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}], extra_query={"api-version": "2023-05-15"})

    assert answer.choices[0].message.content == azure.reply
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (17, 9)
    assert azure.paths[-1] == "/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-10-21"
    assert azure.headers[-1]["api-key"] == azure.key
    assert "Authorization" not in azure.headers[-1]
    await wired.assert_billed(MODEL, TYPE, 17, 9)


async def test_stream_drops_content_filter_chunks_and_bills_azure_usage(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, config=NEW_API)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Hi"}])

    assert all(chunk.choices for chunk in chunks)  # neither the prompt-filter chunk nor the unasked usage chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == azure.reply
    assert azure.requests[-1]["stream_options"] == {"include_usage": True}
    await wired.assert_billed(MODEL, TYPE, 17, 9)


async def test_stream_on_an_old_api_version_sends_no_stream_options_and_still_answers_usage(gateway: Gateway,
                                                                                            azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, config=OLD_API)
    chunks = await stream_chat(wired.client, model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                               stream_options={"include_usage": True})

    assert "stream_options" not in azure.requests[-1]  # Azure refuses it before 2024-09-01
    assert azure.paths[-1].endswith("?api-version=2024-02-01")
    assert streamed_text(chunks) == azure.reply
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage.completion_tokens > 0
    await wired.assert_billed(MODEL, TYPE, usage.prompt_tokens, usage.completion_tokens)


async def test_tool_call_round_trip(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, config=NEW_API)
    question = {"role": "user", "content": "Weather in Paris?"}
    first = await wired.client.chat.completions.create(model=MODEL, messages=[question], tools=[WEATHER_TOOL])
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, orjson.loads(call.function.arguments)) == ("get_weather", {"city": "Paris"})

    second = await wired.client.chat.completions.create(model=MODEL, tools=[WEATHER_TOOL],
                                                        messages=tool_reply(question, first, "Sunny"))

    assert second.choices[0].message.content == azure.reply
    assert azure.requests[-1]["messages"][-1] == {"role": "tool", "tool_call_id": "call_fake0", "content": "Sunny"}
    await wired.assert_billed(MODEL, TYPE, 17, 9, requests=2)


async def test_embeddings_use_their_deployment(gateway: Gateway, azure: FakeAzure):
    model = "text-embedding-3-small"
    wired = await wire(gateway, azure, TYPE, model, config=NEW_API)
    vectors = await wired.billed_embeddings(model, TYPE, 17, ["one", "two"])

    assert len(vectors) == 2
    assert azure.paths[-1] == "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21"


async def test_images_use_their_deployment_and_the_per_picture_price(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, "dall-e-3", config=NEW_API)
    result = await wired.client.images.generate(model="dall-e-3", prompt="a red dot", size="1024x1024")

    assert result.data[0].url == "https://fake.blob.core.windows.net/image.png"
    assert azure.paths[-1] == "/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21"
    [log] = await wired.logs()
    assert log["quota"] == int(ratios.model_ratio(Options(), "dall-e-3", TYPE) * 1000)


async def test_wrong_key_is_refused_by_azure_and_surfaced_as_401(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, key="not-the-key", config=NEW_API)
    refused = await wired.refused_at_no_cost(openai.AuthenticationError, model=MODEL)

    assert refused.status_code == 401
    assert "Access denied due to invalid subscription key" in refused.message


async def test_upstream_errors_keep_their_status(gateway: Gateway, azure: FakeAzure):
    wired = await wire(gateway, azure, TYPE, MODEL, config=NEW_API, model_mapping='{"gpt-3.5-turbo": "gpt-4.1"}')
    with pytest.raises(openai.NotFoundError) as missing:  # gpt-4.1 -> deployment gpt-41, which does not exist
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert "API deployment for this resource does not exist" in missing.value.message
    assert azure.paths[-1].startswith("/openai/deployments/gpt-41/")

    azure.deployments["gpt-41"] = "gpt-4.1"
    azure.fail_next(429, "429", "Requests to the ChatCompletions_Create Operation have exceeded call rate limit")
    with pytest.raises(openai.RateLimitError) as limited:
        await wired.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert limited.value.status_code == 429


def test_cloudflare_ai_gateway_urls_have_no_openai_deployments_segment():
    base = "https://gateway.ai.cloudflare.com/v1/account/gateway/azure-openai/resource"
    assert deployment_url(base, "gpt-3.5-turbo", "/v1/chat/completions", "2024-10-21") == (
        f"{base}/gpt-35-turbo/chat/completions?api-version=2024-10-21")
    assert deployment_url("https://res.openai.azure.com", "gpt-4o", "/v1/embeddings", "2024-06-01") == (
        "https://res.openai.azure.com/openai/deployments/gpt-4o/embeddings?api-version=2024-06-01")
