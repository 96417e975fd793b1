"""Tencent Hunyuan channels (type 23) through the running gateway, against a fake that re-signs every request."""

from __future__ import annotations

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.tencent import FakeTencent
from tests.providers import HI, Customer, fake_upstream, stream_chat, wire, wired_to

hunyuan = fake_upstream(FakeTencent)


MODELS = "hunyuan-turbo,hunyuan-embedding"
wired = wired_to("hunyuan", ChannelType.TENCENT, MODELS)


async def test_chat_is_signed_for_the_host_called_and_billed_from_usage(wired: Customer, hunyuan: FakeTencent):
    client = wired.client

    answer = await client.chat.completions.create(model="hunyuan-turbo", temperature=0.5, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}])

    assert answer.choices[0].message.content == hunyuan.reply and answer.choices[0].finish_reason == "stop"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == hunyuan.usage
    assert hunyuan.actions == ["ChatCompletions"] and hunyuan.hosts == [hunyuan.url.removeprefix("http://")]
    assert hunyuan.requests[0] == {"Model": "hunyuan-turbo", "Stream": False, "Temperature": 0.5, "Messages": [
        {"Role": "system", "Content": "Be brief."}, {"Role": "user", "Content": "hi"}]}
    await wired.assert_billed("hunyuan-turbo", ChannelType.TENCENT, *hunyuan.usage)


async def test_stream_is_billed_from_the_usage_its_events_carry(wired: Customer, hunyuan: FakeTencent):
    hunyuan.usage = (123, 45)  # far from what a local count of "hi" / the reply would give
    client = wired.client

    chunks = await stream_chat(client, model="hunyuan-turbo", messages=HI)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == hunyuan.reply
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]
    await wired.assert_billed("hunyuan-turbo", ChannelType.TENCENT, 123, 45)


async def test_embeddings_are_billed_from_usage(wired: Customer, hunyuan: FakeTencent):
    vectors = await wired.billed_embeddings("hunyuan-embedding", ChannelType.TENCENT, hunyuan.embedding_tokens,
                                            ["one", "two"])

    assert vectors == [[0.125, 0.5, -0.25]] * 2
    assert hunyuan.actions == ["GetEmbedding"] and hunyuan.requests[0] == {"InputList": ["one", "two"]}


async def test_a_wrong_secret_key_fails_the_signature_check(gateway: Gateway, hunyuan: FakeTencent):
    wrong_key = f"{hunyuan.app_id}|{hunyuan.secret_id}|not-the-secret-key"
    stranger = await wire(gateway, hunyuan, ChannelType.TENCENT, MODELS, key=wrong_key)

    refused = await stranger.refused_at_no_cost(openai.AuthenticationError, model="hunyuan-turbo")

    assert refused.body["code"] == "AuthFailure.SignatureFailure"
    assert refused.body["type"] == "tencent_error" and not hunyuan.requests


async def test_response_errors_get_a_real_status(wired: Customer, hunyuan: FakeTencent):
    client = wired.client

    hunyuan.fail_next("LimitExceeded", "超过配额限制")
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="hunyuan-turbo", messages=HI)

    hunyuan.fail_next("InvalidParameterValue.Model", "模型不存在")
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="hunyuan-turbo", messages=HI, stream=True)
    assert bad.value.body["code"] == "InvalidParameterValue.Model" and "模型不存在" in bad.value.body["message"]

    hunyuan.fail_next("FailedOperation.EngineServerError", "引擎层内部错误")
    with pytest.raises(openai.InternalServerError):
        await client.embeddings.create(model="hunyuan-embedding", input="hi")
