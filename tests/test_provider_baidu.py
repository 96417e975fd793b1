"""Baidu Wenxin channels (type 15) through the running gateway, against a fake that issues and checks tokens.

Also the OpenAI-compatible Qianfan V2 (type 47), which goes through the OpenAI adaptor's path rules.
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.baidu import FakeBaidu, FakeQianfanV2
from tests.providers import HI, Customer, fake_upstream, stream_chat, wire, wired_to

baidu = fake_upstream(FakeBaidu)


MODELS = "ERNIE-3.5-8K,ERNIE-4.0-8K,Embedding-V1"
wired = wired_to("baidu", ChannelType.BAIDU, MODELS)


async def test_chat_is_converted_for_ernie_and_billed_from_its_usage(wired: Customer, baidu: FakeBaidu):
    client = wired.client

    answer = await client.chat.completions.create(model="ERNIE-4.0-8K", temperature=1.5, frequency_penalty=0.5,
                                                  max_tokens=100, messages=[
                                                      {"role": "system", "content": "Be brief."},
                                                      {"role": "user", "content": "hi"}])

    assert answer.choices[0].message.content == baidu.reply and answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == baidu.usage
    assert baidu.endpoints == ["completions_pro"]
    assert baidu.requests[0] == {"messages": [{"role": "user", "content": "hi"}], "system": "Be brief.",
                                 "stream": False, "temperature": 1.0, "penalty_score": 1.25,
                                 "max_output_tokens": 100}
    await wired.assert_billed("ERNIE-4.0-8K", ChannelType.BAIDU, *baidu.usage)


async def test_stream_ends_at_is_end_and_is_billed_from_its_usage(wired: Customer, baidu: FakeBaidu):
    client = wired.client

    chunks = await stream_chat(client, model="ERNIE-3.5-8K", messages=HI)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == baidu.reply
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    assert baidu.endpoints == ["completions"]
    await wired.assert_billed("ERNIE-3.5-8K", ChannelType.BAIDU, *baidu.usage)


async def test_embeddings_are_billed_from_usage(wired: Customer, baidu: FakeBaidu):
    vectors = await wired.billed_embeddings("Embedding-V1", ChannelType.BAIDU, baidu.embedding_tokens, ["one", "two"])

    assert vectors == [[0.5, 0.25, -0.125]] * 2
    assert baidu.endpoints == ["embedding-v1"] and baidu.requests[0] == {"input": ["one", "two"]}


async def test_errors_inside_http_200_answers_get_a_real_status(wired: Customer, baidu: FakeBaidu):
    client = wired.client

    baidu.fail_next(18, "Open api qps request limit reached")
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)

    baidu.fail_next(336003, "the max length of current question is 4800")
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI, stream=True)
    assert bad.value.body["type"] == "baidu_error" and bad.value.body["code"] == "336003"
    assert "max length" in bad.value.body["message"]

    baidu.fail_next(336000, "Internal error")
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)


async def test_wrong_credentials_are_refused_by_baidu_oauth(gateway: Gateway, baidu: FakeBaidu):
    stranger = await wire(gateway, baidu, ChannelType.BAIDU, MODELS, key=f"{baidu.api_key}|wrong-secret")

    refused = await stranger.refused_at_no_cost(openai.AuthenticationError, model="ERNIE-3.5-8K")

    assert "Client authentication failed" in refused.body["message"]
    assert baidu.token_requests == 1 and not baidu.requests


async def test_one_token_serves_consecutive_requests(wired: Customer, baidu: FakeBaidu):
    client = wired.client
    for _ in range(3):
        await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)

    assert baidu.token_requests == 1 and len(set(baidu.tokens_used)) == 1


async def test_two_concurrent_first_requests_fetch_one_token(wired: Customer, baidu: FakeBaidu):
    # The fake holds the first token answer until a second token request arrives (or 1 s passes):
    # with one fetch in flight per key, the second request waits for the first fetch instead.
    baidu.hold_first_token = 1.0
    client = wired.client

    answers = await asyncio.gather(*(client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)
                                     for _ in range(2)))

    assert [a.choices[0].message.content for a in answers] == [baidu.reply] * 2
    assert baidu.token_requests == 1
    assert len(baidu.tokens_used) == 2 and len(set(baidu.tokens_used)) == 1


async def test_a_revoked_token_is_replaced_and_the_request_retried(wired: Customer, baidu: FakeBaidu):
    client = wired.client
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)
    baidu.revoke_tokens()

    answer = await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in answer])

    assert text == baidu.reply
    assert baidu.token_requests == 2
    first, refused, fresh = baidu.tokens_used
    assert first == refused != fresh


async def test_a_token_close_to_expiry_is_renewed_in_the_background(wired: Customer, baidu: FakeBaidu):
    baidu.expires_in = 1800  # less than the hour before expiry at which renewal starts
    client = wired.client
    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)
    baidu.token_issued.clear()
    baidu.expires_in = 2592000

    await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)
    await asyncio.wait_for(baidu.token_issued.wait(), timeout=10)
    for _ in range(10):  # the renewed token is stored once its answer has been read
        await client.chat.completions.create(model="ERNIE-3.5-8K", messages=HI)
        if baidu.tokens_used[-1] != baidu.tokens_used[0]:
            break

    assert baidu.token_requests == 2
    assert baidu.tokens_used[1] == baidu.tokens_used[0], "the request that started the renewal did not wait"
    assert baidu.tokens_used[-1] != baidu.tokens_used[0]


async def test_qianfan_v2_goes_to_the_v2_openai_paths(gateway: Gateway, serve_fake):
    fake = await serve_fake(FakeQianfanV2(key="bce-v3/ALTAK-fake/0123456789abcdef"))
    wired = await wire(gateway, fake, ChannelType.BAIDU_V2, "ernie-4.0-8k,embedding-v1")

    vectors = await wired.client.embeddings.create(model="embedding-v1", input="hi")
    answer = await wired.client.chat.completions.create(model="ernie-4.0-8k", messages=HI)

    assert answer.choices[0].message.content == fake.reply
    assert vectors.data[0].embedding == pytest.approx([0.1, 0.2, 0.3])  # float32, as base64 carries it
    assert fake.headers[0]["Authorization"] == f"Bearer {fake.key}"
    await wired.assert_billed("ernie-4.0-8k", ChannelType.BAIDU_V2, *fake.usage, requests=2)
