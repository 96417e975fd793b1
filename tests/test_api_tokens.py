"""/api/token/*: a user's own keys, and every edit reaching the relay on the next request."""

from __future__ import annotations

import time

import openai
import pytest

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def _relay_status(gateway, key: str, model: str = "gpt-3.5-turbo") -> tuple[int, dict]:
    async with gateway.http.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                                 json={**CHAT, "model": model}) as resp:
        return resp.status, await resp.json()


async def test_create_returns_the_key_and_validates(gateway):
    user = await gateway.add_user()
    created = await gateway.api("POST", "/api/token/", {"name": "mine", "remain_quota": 500, "unlimited_quota": False,
                                                        "expired_time": -1, "models": "gpt-4o,gpt-3.5-turbo",
                                                        "subnet": "10.0.0.0/8, 127.0.0.1/32"},
                                token=user["access_token"])
    assert created["success"], created
    token = created["data"]
    assert len(token["key"]) == 48 and not token["key"].startswith("sk-") and token["key"].isalnum()
    assert (token["name"], token["remain_quota"], token["unlimited_quota"], token["models"], token["status"]) == (
        "mine", 500, False, "gpt-4o,gpt-3.5-turbo", 1)
    assert token["user_id"] == user["id"] and token["created_time"] >= int(time.time()) - 5
    too_long = await gateway.api("POST", "/api/token/", {"name": "x" * 31}, token=user["access_token"])
    assert too_long == {"success": False, "message": "参数错误：令牌名称过长"}
    bad_subnet = await gateway.api("POST", "/api/token/", {"name": "n", "subnet": "10.0.0.0/8,not-a-net"},
                                   token=user["access_token"])
    assert bad_subnet == {"success": False, "message": "参数错误：无效的网段：not-a-net"}
    bad_type = await gateway.api("POST", "/api/token/", {"name": "n", "remain_quota": "lots"},
                                 token=user["access_token"])
    assert bad_type["success"] is False and "remain_quota" in bad_type["message"]


async def test_list_search_get_are_own_tokens_only_and_page_by_ten(gateway):
    alice, bob = await gateway.add_user(), await gateway.add_user()
    for i in range(11):
        await gateway.add_token(alice["access_token"], name=f"alpha{i:02d}", unlimited_quota=False,
                                remain_quota=i * 10)
    bob_key = await gateway.add_token(bob["access_token"], name="alpha-bob")
    page0 = (await gateway.api("GET", "/api/token/?p=0", token=alice["access_token"]))["data"]
    page1 = (await gateway.api("GET", "/api/token/?p=1", token=alice["access_token"]))["data"]
    names = [t["name"] for t in page0 + page1]
    assert len(page0) == 10 and len(names) == 12  # 11 + the "default" token every new user gets
    assert "alpha-bob" not in names and names[0] == "alpha10"
    by_quota = (await gateway.api("GET", "/api/token/?order=remain_quota", token=alice["access_token"]))["data"]
    assert by_quota[0]["name"] == "default"  # unlimited first, then by remain_quota desc
    assert [t["remain_quota"] for t in by_quota[1:]] == sorted((t["remain_quota"] for t in by_quota[1:]),
                                                               reverse=True)
    found = (await gateway.api("GET", "/api/token/search?keyword=alpha0", token=alice["access_token"]))["data"]
    assert sorted(t["name"] for t in found) == [f"alpha{i:02d}" for i in range(10)]
    bob_token = (await gateway.api("GET", "/api/token/search?keyword=alpha", token=bob["access_token"]))["data"][0]
    assert "sk-" + bob_token["key"] == bob_key
    assert (await gateway.api("GET", f"/api/token/{bob_token['id']}", token=bob["access_token"]))["data"]["key"] == (
        bob_token["key"])
    assert await gateway.api("GET", f"/api/token/{bob_token['id']}", token=alice["access_token"]) == {
        "success": False, "message": "令牌不存在"}
    assert (await gateway.api("DELETE", f"/api/token/{bob_token['id']}", token=alice["access_token"]))[
        "message"] == "令牌不存在"


async def test_edits_apply_to_the_relay_at_once(gateway, fake_openai):
    user = await gateway.add_user()
    await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo,gpt-4o")
    key = await gateway.add_token(user["access_token"], name="edit-me")
    token = (await gateway.api("GET", "/api/token/search?keyword=edit-me", token=user["access_token"]))["data"][0]
    assert (await _relay_status(gateway, key))[0] == 200

    token.update(models="gpt-4o", name="renamed")
    answer = await gateway.api("PUT", "/api/token/", token, token=user["access_token"])
    assert answer["success"] and answer["data"]["name"] == "renamed" and answer["data"]["models"] == "gpt-4o"
    status, body = await _relay_status(gateway, key)
    assert status == 403 and "gpt-3.5-turbo" in body["error"]["message"]
    assert (await _relay_status(gateway, key, "gpt-4o"))[0] == 200

    disabled = await gateway.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 2},
                                 token=user["access_token"])
    assert disabled["success"] and disabled["data"]["status"] == 2
    assert disabled["data"]["name"] == "renamed"  # status_only touches nothing else
    assert (await _relay_status(gateway, key, "gpt-4o"))[0] == 401
    assert (await gateway.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 1},
                              token=user["access_token"]))["success"]
    assert (await _relay_status(gateway, key, "gpt-4o"))[0] == 200

    assert (await gateway.api("DELETE", f"/api/token/{token['id']}", token=user["access_token"])) == {
        "success": True, "message": ""}
    status, body = await _relay_status(gateway, key, "gpt-4o")
    assert status == 401 and "无效的令牌" in body["error"]["message"]


async def test_re_enabling_an_expired_or_spent_token_is_refused(gateway, fake_openai):
    user = await gateway.add_user()
    await gateway.add_channel(fake_openai.url)
    past = int(time.time()) - 60
    await gateway.add_token(user["access_token"], name="expired", expired_time=past)
    await gateway.add_token(user["access_token"], name="spent", unlimited_quota=False, remain_quota=0)
    tokens = {t["name"]: t for t in (await gateway.api("GET", "/api/token/", token=user["access_token"]))["data"]}
    for name in ("expired", "spent"):
        assert (await gateway.api("PUT", "/api/token/?status_only=1", {"id": tokens[name]["id"], "status": 2},
                                  token=user["access_token"]))["success"]
    refused = await gateway.api("PUT", "/api/token/?status_only=1", {"id": tokens["expired"]["id"], "status": 1},
                                token=user["access_token"])
    assert refused == {"success": False,
                       "message": "令牌已过期，无法启用，请先修改令牌过期时间，或者设置为永不过期"}
    refused = await gateway.api("PUT", "/api/token/?status_only=1", {"id": tokens["spent"]["id"], "status": 1},
                                token=user["access_token"])
    assert refused == {"success": False,
                       "message": "令牌可用额度已用尽，无法启用，请先修改令牌剩余额度，或者设置为无限额度"}
    # fixing the cause first (a full edit), then enabling, works
    fixed = {**tokens["expired"], "expired_time": -1}
    assert (await gateway.api("PUT", "/api/token/", fixed, token=user["access_token"]))["data"]["status"] == 2
    enabled = await gateway.api("PUT", "/api/token/?status_only=1", {"id": fixed["id"], "status": 1},
                                token=user["access_token"])
    assert enabled["success"] and enabled["data"]["status"] == 1
    client = gateway.openai("sk-" + enabled["data"]["key"])
    assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "Hello from fake"
    bad = await gateway.api("PUT", "/api/token/?status_only=1", {"id": fixed["id"], "status": 7},
                            token=user["access_token"])
    assert bad["success"] is False


async def test_limited_token_quota_edit_reaches_the_relay(gateway, fake_openai):
    user = await gateway.add_user()
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token(user["access_token"], name="tiny", unlimited_quota=False, remain_quota=1)
    client = gateway.openai(key)
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(**CHAT)
    token = (await gateway.api("GET", "/api/token/search?keyword=tiny", token=user["access_token"]))["data"][0]
    token["remain_quota"] = 10**6
    assert (await gateway.api("PUT", "/api/token/", token, token=user["access_token"]))["success"]
    assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "Hello from fake"
