"""Relaying through an OpenAI channel with the official SDK: answers, streams and the exact bill."""

from __future__ import annotations

import math

import openai
import pytest

from oneapi.billing import ratios
from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI


async def logs_of(gateway: Gateway, **filters: str) -> list[dict]:
    await gateway.drain()
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return (await gateway.api("GET", f"/api/log/?type=2&{query}"))["data"]


async def user_quota(gateway: Gateway, user_id: int) -> dict:
    await gateway.drain()
    return (await gateway.api("GET", f"/api/user/{user_id}"))["data"]


def expected_quota(prompt: int, completion: int, model: str, group_ratio: float = 1.0) -> int:
    options = _default_options()
    model_ratio = ratios.model_ratio(options, model, 1)
    completion_ratio = ratios.completion_ratio(options, model, 1)
    return math.ceil((prompt + completion * completion_ratio) * model_ratio * group_ratio)


def _default_options():
    from oneapi.options import Options

    return Options()


async def test_chat_completion_is_relayed_and_billed_from_upstream_usage(gateway: Gateway, fake_openai: FakeOpenAI):
    channel = await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=1_000_000)
    key = await gateway.add_token(user["access_token"], unlimited_quota=False, remain_quota=500_000)

    answer = await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Say hello"}])

    assert answer.choices[0].message.content == "Hello from fake"
    assert answer.usage.prompt_tokens == 11 and answer.usage.completion_tokens == 7
    assert fake_openai.headers[-1]["Authorization"] == "Bearer sk-upstream"
    quota = expected_quota(11, 7, "gpt-3.5-turbo")
    assert quota == math.ceil((11 + 7 * 3) * 0.25)
    [log] = await logs_of(gateway, username=user["username"])
    assert (log["prompt_tokens"], log["completion_tokens"], log["quota"]) == (11, 7, quota)
    assert log["channel"] == channel["id"] and log["model_name"] == "gpt-3.5-turbo" and not log["is_stream"]
    after = await user_quota(gateway, user["id"])
    assert after["quota"] == 1_000_000 - quota
    assert after["used_quota"] == quota and after["request_count"] == 1
    tokens = (await gateway.api("GET", "/api/token/", token=user["access_token"]))["data"]
    [token] = [t for t in tokens if not t["unlimited_quota"]]
    assert token["remain_quota"] == 500_000 - quota and token["used_quota"] == quota
    channels = await gateway.api("GET", f"/api/channel/{channel['id']}")
    assert channels["data"]["used_quota"] == quota


async def test_stream_passes_chunks_and_hides_the_usage_chunk_it_asked_for(gateway: Gateway,
                                                                           fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])

    stream = await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], stream=True)
    chunks = [chunk async for chunk in stream]

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from fake"
    assert all(c.choices for c in chunks), "the client did not ask for usage, so no choices=[] chunk"
    assert fake_openai.requests[-1]["stream_options"] == {"include_usage": True}
    [log] = await logs_of(gateway, username=user["username"])
    assert (log["prompt_tokens"], log["completion_tokens"]) == (11, 7) and log["is_stream"]
    assert log["quota"] == expected_quota(11, 7, "gpt-3.5-turbo")


async def test_stream_with_include_usage_delivers_the_usage_chunk(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token()
    stream = await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 18


async def test_raw_stream_ends_with_exactly_one_done(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token()
    async with gateway.http.post(gateway.url + "/v1/chat/completions", headers={"Authorization": key}, json={
        "model": "gpt-3.5-turbo", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        body = (await resp.read()).decode()
    assert body.count("data: [DONE]") == 1 and body.endswith("data: [DONE]\n\n")


async def test_stream_without_upstream_usage_is_estimated(gateway: Gateway, make_fake_openai):
    fake = await make_fake_openai(usage=None)
    await gateway.add_channel(fake.url)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    stream = await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], stream=True)
    [_ async for _ in stream]
    [log] = await logs_of(gateway, username=user["username"])
    counter = gateway.state.counter
    assert log["completion_tokens"] == counter.text("Hello from fake", "gpt-3.5-turbo")
    assert log["prompt_tokens"] == counter.messages([{"role": "user", "content": "hi"}], "gpt-3.5-turbo")


async def test_completions_embeddings_and_moderations(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url,
                              models="gpt-3.5-turbo-instruct,text-embedding-3-small,text-moderation-stable")
    client = gateway.openai(await gateway.add_token())
    completion = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once")
    assert completion.choices[0].text == "Hello from fake"
    embedding = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert [d.index for d in embedding.data] == [0, 1] and embedding.usage.prompt_tokens == 11
    moderation = await client.moderations.create(input="hello", model="text-moderation-stable")
    assert moderation.results[0].flagged is False


async def test_models_listing_follows_the_group_and_the_token_allow_list(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="gpt-4o,my-private-model")
    client = gateway.openai(await gateway.add_token())
    models = {m.id: m for m in (await client.models.list()).data}
    assert set(models) == {"gpt-4o", "my-private-model"}
    assert models["gpt-4o"].owned_by == "openai" and models["my-private-model"].owned_by == "custom"
    assert (await client.models.retrieve("gpt-4o")).id == "gpt-4o"
    limited = gateway.openai(await gateway.add_token(models="gpt-4o"))
    assert [m.id for m in (await limited.models.list()).data] == ["gpt-4o"]
    with pytest.raises(openai.NotFoundError) as missing:
        await limited.models.retrieve("my-private-model")
    assert missing.value.code == "model_not_found"


async def test_model_mapping_and_forced_system_prompt(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, model_mapping='{"gpt-3.5-turbo": "gpt-4"}',
                              system_prompt="You are terse.")
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], extra_body={"custom_field": 1})
    sent = fake_openai.requests[-1]
    assert sent["model"] == "gpt-4"
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["custom_field"] == 1, "unknown fields survive re-serialisation"
    [log] = await logs_of(gateway, username=user["username"])
    assert log["model_name"] == "gpt-4" and log["system_prompt_reset"]
    assert log["quota"] == expected_quota(11, 7, "gpt-4")


async def test_group_ratio_multiplies_the_price(gateway: Gateway, fake_openai: FakeOpenAI):
    assert (await gateway.api("PUT", "/api/option/", {"key": "GroupRatio",
                                                      "value": '{"default": 1, "vip": 2.5}'}))["success"]
    await gateway.add_channel(fake_openai.url, models="gpt-4o", group="vip")
    user = await gateway.add_user(group="vip")
    key = await gateway.add_token(user["access_token"])
    await gateway.openai(key).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    [log] = await logs_of(gateway, username=user["username"])
    assert log["quota"] == expected_quota(11, 7, "gpt-4o", group_ratio=2.5) == math.ceil((11 + 7 * 4) * 2.5 * 2.5)


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o-mini", "text-embedding-3-small", "an-unknown-model"])
async def test_quota_to_the_unit_for_several_models(gateway: Gateway, fake_openai: FakeOpenAI, model: str):
    await gateway.add_channel(fake_openai.url, models=model)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    await gateway.openai(key).chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    [log] = await logs_of(gateway, username=user["username"])
    assert log["quota"] == expected_quota(11, 7, model)
    if model == "an-unknown-model":
        assert log["quota"] == (11 + 7) * 30


async def test_request_id_header_on_every_answer(gateway: Gateway):
    for path in ("/v1/models", "/api/status", "/v1/nothing"):
        async with gateway.http.get(gateway.url + path) as resp:
            assert resp.headers["X-Oneapi-Request-Id"]


async def test_cors_answers_browsers_and_stays_off_sdk_answers(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=1_000_000)
    key = await gateway.add_token(user["access_token"])
    browser = {"Origin": "https://chat.example.com"}
    async with gateway.http.options(gateway.url + "/v1/chat/completions", headers={
            **browser, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        assert resp.headers["Access-Control-Allow-Headers"] == "*"
    body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}
    for stream in (False, True):
        headers = {"Authorization": f"Bearer {key}"}
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json={**body, "stream": stream},
                                     headers={**headers, **browser}) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == "*"
            await resp.read()
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json={**body, "stream": stream},
                                     headers=headers) as resp:
            assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
            await resp.read()


async def test_sdk_sees_upstream_errors_as_openai_errors(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=100_000)
    key = await gateway.add_token(user["access_token"])
    fake_openai.fail_next(503, "overloaded", "server_error")
    with pytest.raises(openai.InternalServerError) as caught:
        await gateway.openai(key).chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503 and "overloaded" in caught.value.message
    after = await user_quota(gateway, user["id"])
    assert after["quota"] == 100_000 and after["used_quota"] == 0, "the reservation was refunded"
