"""/api/log/* and the dashboard, fed by real requests relayed to the fake OpenAI upstream."""

from __future__ import annotations

import time

from oneapi.constants import LogType

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def _relay_some(gateway, fake_openai):
    """Two users, two tokens, two models, on one channel: three consume logs."""
    alice, bob = await gateway.add_user("alice"), await gateway.add_user("bob")
    channel = await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo,gpt-4o")
    a1 = gateway.openai(await gateway.add_token(alice["access_token"], name="a-one"))
    a2 = gateway.openai(await gateway.add_token(alice["access_token"], name="a-two"))
    b1 = gateway.openai(await gateway.add_token(bob["access_token"], name="b-one"))
    await a1.chat.completions.create(**CHAT)
    await a2.chat.completions.create(**{**CHAT, "model": "gpt-4o"})
    stream = await b1.chat.completions.create(**CHAT, stream=True)
    async for _ in stream:
        pass
    await gateway.drain()
    return alice, bob, channel


async def test_admin_log_filters(gateway, fake_openai):
    started = int(time.time())
    alice, _, channel = await _relay_some(gateway, fake_openai)
    consume = (await gateway.api("GET", "/api/log/?type=2"))["data"]
    assert len(consume) == 3
    assert [entry["username"] for entry in consume] == ["bob", "alice", "alice"]  # id desc
    newest = consume[0]
    assert newest["channel"] == channel["id"] and "channel_id" not in newest
    assert newest["is_stream"] is True and newest["token_name"] == "b-one"
    assert (newest["prompt_tokens"], newest["completion_tokens"]) == fake_openai.usage
    assert newest["quota"] > 0 and newest["request_id"] and newest["id"] > 0

    async def count(query: str) -> int:
        return len((await gateway.api("GET", "/api/log/?" + query))["data"])

    assert await count("type=2&username=alice") == 2
    assert await count("type=2&token_name=a-two") == 1
    assert await count("type=2&model_name=gpt-4o") == 1
    assert await count(f"type=2&channel={channel['id']}") == 3
    assert await count(f"type=2&channel={channel['id'] + 100}") == 0
    assert await count(f"type=2&start_timestamp={started}&end_timestamp={int(time.time()) + 1}") == 3
    assert await count(f"type=2&end_timestamp={started - 1}") == 0
    assert await count("type=0&username=alice") >= 2  # type 0 = every type
    assert await count("type=1") == 0
    total = sum(entry["quota"] for entry in consume)
    assert (await gateway.api("GET", "/api/log/stat?type=1"))["data"] == {"quota": total}  # type is ignored
    alice_quota = sum(entry["quota"] for entry in consume if entry["username"] == "alice")
    assert (await gateway.api("GET", "/api/log/stat?username=alice"))["data"] == {"quota": alice_quota}
    found = (await gateway.api("GET", "/api/log/search?keyword=倍率"))["data"]
    assert len(found) == 3
    assert len((await gateway.api("GET", "/api/log/search?keyword=2"))["data"]) >= 3  # type = 2
    assert alice["id"]


async def test_own_logs_stat_search_and_dashboard(gateway, fake_openai):
    alice, bob, _ = await _relay_some(gateway, fake_openai)
    token = alice["access_token"]
    own = (await gateway.api("GET", "/api/log/self?type=2", token=token))["data"]
    assert len(own) == 2 and all(entry["id"] == 0 and entry["username"] == "alice" for entry in own)
    # a user cannot widen the view to someone else
    assert len((await gateway.api("GET", "/api/log/self?type=2&username=bob", token=token))["data"]) == 2
    assert len((await gateway.api("GET", "/api/log/self?type=2&model_name=gpt-4o", token=token))["data"]) == 1
    stat = (await gateway.api("GET", "/api/log/self/stat?token_name=a-one", token=token))["data"]
    assert stat == {"quota": next(e["quota"] for e in own if e["token_name"] == "a-one")}
    searched = (await gateway.api("GET", "/api/log/self/search?keyword=倍率", token=token))["data"]
    assert len(searched) == 2 and all(entry["id"] == 0 for entry in searched)
    assert (await gateway.api("GET", "/api/log/?type=2", token=token))["success"] is False

    board = (await gateway.api("GET", "/api/user/dashboard", token=token))["data"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert sorted(board, key=lambda row: row["ModelName"]) == [
        {"Day": today, "ModelName": "gpt-3.5-turbo", "RequestCount": 1,
         "Quota": next(e["quota"] for e in own if e["model_name"] == "gpt-3.5-turbo"),
         "PromptTokens": 11, "CompletionTokens": 7},
        {"Day": today, "ModelName": "gpt-4o", "RequestCount": 1,
         "Quota": next(e["quota"] for e in own if e["model_name"] == "gpt-4o"),
         "PromptTokens": 11, "CompletionTokens": 7},
    ]
    assert bob["id"]


async def test_delete_history_before_a_timestamp(gateway, fake_openai):
    await _relay_some(gateway, fake_openai)
    assert await gateway.api("DELETE", "/api/log/") == {"success": False, "message": "target timestamp is required"}
    assert (await gateway.api("DELETE", "/api/log/?target_timestamp=1000"))["data"] == 0
    everything = len((await gateway.api("GET", "/api/log/?type=0"))["data"])
    deleted = await gateway.api("DELETE", f"/api/log/?target_timestamp={int(time.time()) + 10}")
    assert deleted == {"success": True, "message": "", "data": everything}
    assert (await gateway.api("GET", f"/api/log/?type={int(LogType.CONSUME)}"))["data"] == []


async def test_logs_page_by_ten(gateway, fake_openai):
    user = await gateway.add_user()
    await gateway.add_channel(fake_openai.url)
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    for _ in range(12):
        await client.chat.completions.create(**CHAT)
    await gateway.drain()
    first = (await gateway.api("GET", "/api/log/self?type=2&p=0", token=user["access_token"]))["data"]
    second = (await gateway.api("GET", "/api/log/self?type=2&p=1", token=user["access_token"]))["data"]
    assert (len(first), len(second)) == (10, 2)
    admin_pages = [(await gateway.api("GET", f"/api/log/?type=2&p={p}"))["data"] for p in (0, 1)]
    ids = [entry["id"] for page in admin_pages for entry in page]
    assert len(ids) == 12 and ids == sorted(ids, reverse=True)
