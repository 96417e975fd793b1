"""Which channel serves a request: priority tiers, weights, failover, pinning and token limits."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, assert_openai_error, post


async def test_highest_priority_tier_serves_while_it_works(gateway: Gateway, make_fake_openai):
    high, low = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(high.url, priority=10)
    await gateway.add_channel(low.url, priority=0)
    key = await gateway.add_token()
    for _ in range(10):
        assert (await post(gateway, key, json=CHAT))[0] == 200
    assert len(high.requests) == 10 and not low.requests


async def test_weights_split_traffic_in_proportion(gateway: Gateway, make_fake_openai):
    light, heavy = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(light.url, weight=1)
    await gateway.add_channel(heavy.url, weight=3)
    key = await gateway.add_token()
    n = 400
    results = await asyncio.gather(*(post(gateway, key, json=CHAT) for _ in range(n)))
    assert all(status == 200 for status, _ in results)
    # Expected 100 on the light channel; 5 standard deviations (sd ≈ 8.7) keeps this free of flakes.
    assert len(light.requests) + len(heavy.requests) == n
    assert abs(len(light.requests) - n / 4) < 5 * (n * 0.25 * 0.75) ** 0.5, (len(light.requests), len(heavy.requests))


async def test_failover_walks_down_the_tiers_and_skips_failed_channels(gateway: Gateway, make_fake_openai):
    assert (await gateway.api("PUT", "/api/option/", {"key": "RetryTimes", "value": "2"}))["success"]
    broken_a, broken_b, healthy = (await make_fake_openai(), await make_fake_openai(), await make_fake_openai())
    await gateway.add_channel(broken_a.url, priority=10)
    await gateway.add_channel(broken_b.url, priority=5)
    ok = await gateway.add_channel(healthy.url, priority=0)
    broken_a.fail_next(500, "boom")
    broken_b.fail_next(502, "bad gateway")
    user = await gateway.add_user(quota=1_000_000)
    key = await gateway.add_token(user["access_token"])
    status, body = await post(gateway, key, json=CHAT)
    assert status == 200 and body["choices"][0]["message"]["content"] == "Hello from fake"
    assert (len(broken_a.requests), len(broken_b.requests), len(healthy.requests)) == (1, 1, 1)
    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}"))["data"]
    assert [log["channel"] for log in logs] == [ok["id"]]
    spent = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    assert 1_000_000 - spent["quota"] == logs[0]["quota"], "failed attempts were refunded exactly"


async def test_no_retry_on_400_and_none_without_retry_times(gateway: Gateway, make_fake_openai):
    first, second = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(first.url, priority=10)
    await gateway.add_channel(second.url, priority=0)
    key = await gateway.add_token()
    first.fail_next(500, "boom")
    assert (await post(gateway, key, json=CHAT))[0] == 500, "RetryTimes defaults to 0"
    await gateway.api("PUT", "/api/option/", {"key": "RetryTimes", "value": "3"})
    first.fail_next(400, "bad request")
    assert (await post(gateway, key, json=CHAT))[0] == 400
    assert not second.requests


async def test_stream_failures_before_the_first_byte_fail_over(gateway: Gateway, make_fake_openai):
    await gateway.api("PUT", "/api/option/", {"key": "RetryTimes", "value": "1"})
    broken, healthy = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(broken.url, priority=1)
    await gateway.add_channel(healthy.url, priority=0)
    broken.fail_next(503, "overloaded")
    key = await gateway.add_token()
    stream = await gateway.openai(key).chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from fake" and len(healthy.requests) == 1


async def test_admins_pin_a_channel_and_common_users_cannot(gateway: Gateway, make_fake_openai):
    routed, pinned = await make_fake_openai(), await make_fake_openai()
    await gateway.add_channel(routed.url, priority=10)
    target = await gateway.add_channel(pinned.url, priority=0, models="something-else")
    root_key = await gateway.add_token()
    assert (await post(gateway, f"{root_key}-{target['id']}", json=CHAT))[0] == 200
    assert len(pinned.requests) == 1 and not routed.requests
    status, body = await post(gateway, f"{root_key}-abc", json=CHAT)
    assert status == 400
    assert_openai_error(body, "无效的渠道 Id")
    user = await gateway.add_user()
    user_key = await gateway.add_token(user["access_token"])
    status, body = await post(gateway, f"{user_key}-{target['id']}", json=CHAT)
    assert status == 403
    assert_openai_error(body, "普通用户不支持指定渠道")


async def test_disabled_channels_stop_serving_at_once(gateway: Gateway, fake_openai: FakeOpenAI):
    channel = await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token()
    assert (await post(gateway, key, json=CHAT))[0] == 200
    assert (await gateway.api("PUT", "/api/channel/", {"id": channel["id"], "status": 2}))["success"]
    status, body = await post(gateway, key, json=CHAT)
    assert status == 503
    assert_openai_error(body, "无可用渠道")


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"expired_time": int(time.time()) - 10}, 401, "该令牌已过期"),
    ({"models": "gpt-4o"}, 403, "该令牌无权使用模型：gpt-3.5-turbo"),
    ({"subnet": "10.1.0.0/16"}, 403, "该令牌只能在指定网段使用"),
])
async def test_token_restrictions(gateway: Gateway, fake_openai: FakeOpenAI, fields: dict, status: int, message: str):
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token(**fields)
    got_status, body = await post(gateway, key, json=CHAT)
    assert got_status == status
    assert_openai_error(body, message)


async def test_disabled_token_and_disabled_user(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"])
    assert (await post(gateway, key, json=CHAT))[0] == 200
    token = next(t for t in (await gateway.api("GET", "/api/token/", token=user["access_token"]))["data"]
                 if "sk-" + t["key"] == key)
    await gateway.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 2}, token=user["access_token"])
    status, body = await post(gateway, key, json=CHAT)
    assert status == 401
    assert_openai_error(body, "该令牌状态不可用")
    await gateway.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 1}, token=user["access_token"])
    await gateway.api("POST", "/api/user/manage", {"username": user["username"], "action": "disable"})
    status, body = await post(gateway, key, json=CHAT)
    assert status == 403
    assert_openai_error(body, "用户已被封禁")


async def test_insufficient_user_and_token_quota(gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    poor = await gateway.add_user(quota=10)
    key = await gateway.add_token(poor["access_token"])
    status, body = await post(gateway, key, json=CHAT)
    assert status == 403 and body["error"]["code"] == "insufficient_user_quota"
    rich = await gateway.add_user(quota=10**9)
    key = await gateway.add_token(rich["access_token"], unlimited_quota=False, remain_quota=20)
    status, body = await post(gateway, key, json=CHAT)
    assert status == 403 and body["error"]["code"] == "pre_consume_token_quota_failed"
    await gateway.drain()
    assert (await gateway.api("GET", f"/api/user/{rich['id']}"))["data"]["quota"] == 10**9


async def test_proxy_route_forwards_with_the_channel_key_for_admins_only(gateway: Gateway, fake_openai: FakeOpenAI):
    channel = await gateway.add_channel(fake_openai.url + "/v1", key="Bearer sk-upstream", type=43, models="")
    root_key = await gateway.add_token()
    async with gateway.http.post(f"{gateway.url}/v1/oneapi/proxy/{channel['id']}/embeddings",
                                 json={"model": "text-embedding-3-small", "input": "hi"},
                                 headers={"Authorization": root_key}) as resp:
        assert resp.status == 200 and (await resp.json())["data"][0]["embedding"] == [0.1, 0.2, 0.3]
    user = await gateway.add_user()
    user_key = await gateway.add_token(user["access_token"])
    status, body = await post(gateway, user_key, json={"input": "hi"},
                              path=f"/v1/oneapi/proxy/{channel['id']}/embeddings")
    assert status == 403
    assert_openai_error(body, "admins")


async def test_slave_nodes_redirect_pages_to_the_frontend(make_gateway):
    await make_gateway()  # the master creates the tables; slaves never migrate
    gateway = await make_gateway(NODE_TYPE="slave", FRONTEND_BASE_URL="https://admin.example.com/")
    async with gateway.http.get(gateway.url + "/token?p=2", allow_redirects=False) as resp:
        assert resp.status == 301 and resp.headers["Location"] == "https://admin.example.com/token?p=2"
    assert (await gateway.api("GET", "/api/status", token=""))["success"]
