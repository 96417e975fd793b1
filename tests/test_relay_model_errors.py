"""What SDKs branch on: 404 model_not_found for a model the caller cannot use, 503 when it is served but no
channel is up, and the upstream's 429/503 with its Retry-After and x-ratelimit-* headers once retries run out
(Gemini's RetryInfo, which it sends in the body, becomes Retry-After)."""

from __future__ import annotations

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}
LIMITS = {"Retry-After": "7", "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
          "x-ratelimit-reset-requests": "7s"}


async def test_a_model_no_channel_of_the_group_lists_is_404(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo")
    await gateway.add_channel(fake_openai.url, models="vip-model", group="vip")
    user = await gateway.add_user()
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    for model in ("no-such-model", "vip-model"):
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(**{**CHAT, "model": model})
        assert caught.value.code == "model_not_found" and caught.value.type == "invalid_request_error"
        assert caught.value.body == {"message": caught.value.body["message"], "type": "invalid_request_error",
                                     "param": None, "code": "model_not_found"}
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve(model)
    with pytest.raises(openai.NotFoundError):
        await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert [m.id for m in (await client.models.list()).data] == ["gpt-3.5-turbo"]
    model = await client.models.retrieve("gpt-3.5-turbo")
    assert (model.id, model.object, model.owned_by) == ("gpt-3.5-turbo", "model", "openai")
    assert not fake_openai.requests


async def test_the_token_allow_list_narrows_the_listing(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo,gpt-4o")
    client = gateway.openai(await gateway.add_token(models="gpt-4o,not-routed-anywhere"))
    assert [m.id for m in (await client.models.list()).data] == ["gpt-4o"]
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("not-routed-anywhere")
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("gpt-3.5-turbo")
    with pytest.raises(openai.PermissionDeniedError):  # One API's own refusal for a model outside the list
        await client.chat.completions.create(**CHAT)


async def test_served_but_no_channel_up_stays_503(gateway: Gateway, fake_openai: FakeOpenAI):
    channel = await gateway.add_channel(fake_openai.url)
    client = gateway.openai(await gateway.add_token())
    assert (await gateway.api("PUT", "/api/channel/", {"id": channel["id"], "status": 2}))["success"]
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(**CHAT)
    assert caught.value.status_code == 503 and caught.value.code == "model_not_available"


@pytest.mark.parametrize(("status", "error_class"), [(429, openai.RateLimitError),
                                                     (503, openai.InternalServerError)])
async def test_exhausted_retries_pass_the_upstream_back_off_headers_on(
        gateway: Gateway, make_fake_openai, status: int, error_class: type[openai.APIStatusError]):
    await gateway.api("PUT", "/api/option/", {"key": "RetryTimes", "value": "1"})
    first, second = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(first.url, priority=1)
    await gateway.add_channel(second.url, priority=0)
    first.fail_next(status, "slow down", "rate_limit_error", headers={"Retry-After": "1"})
    second.fail_next(status, "slow down", "rate_limit_error", headers=LIMITS)
    client = gateway.openai(await gateway.add_token())
    with pytest.raises(error_class) as caught:
        await client.chat.completions.create(**CHAT)
    assert len(first.requests) == 1 and len(second.requests) == 1
    headers = caught.value.response.headers
    assert caught.value.status_code == status
    assert {name: headers.get(name) for name in LIMITS} == LIMITS, "the last channel's headers"


async def test_the_sdk_backs_off_as_told_and_then_succeeds(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    fake_openai.fail_next(429, "slow down", "rate_limit_error", headers={"Retry-After": "0"})
    client = gateway.openai(await gateway.add_token()).with_options(max_retries=1)
    answer = await client.chat.completions.with_raw_response.create(**CHAT)
    assert answer.retries_taken == 1 and answer.parse().choices[0].message.content == "Hello from fake"


async def test_streams_refused_before_the_first_byte_carry_the_headers(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    fake_openai.fail_next(429, "slow down", "rate_limit_error", headers=LIMITS)
    client = gateway.openai(await gateway.add_token())
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(**CHAT, stream=True)
    assert caught.value.response.headers["retry-after"] == "7"


async def test_claude_and_gemini_rate_limits_tell_the_client_when_to_retry(gateway: Gateway, serve_fake):
    claude, gemini = await serve_fake(FakeAnthropic()), await serve_fake(FakeGemini())
    await gateway.add_channel(claude.url, key=claude.key, models="claude-3-haiku-20240307",
                              type=ChannelType.ANTHROPIC)
    await gateway.add_channel(gemini.url, key=gemini.key, models="gemini-1.5-flash", type=ChannelType.GEMINI)
    claude.fail_next(429, "rate_limit_error", "Number of requests has exceeded your rate limit",
                     headers={"retry-after": "12"})
    gemini.fail_next(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", retry_delay="2.5s")
    client = gateway.openai(await gateway.add_token())
    for model, wait in (("claude-3-haiku-20240307", "12"), ("gemini-1.5-flash", "3")):
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(**{**CHAT, "model": model})
        assert caught.value.response.headers["retry-after"] == wait, model
