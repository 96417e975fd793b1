"""The admin API's storage works the same on SQLite, PostgreSQL and MySQL."""

from __future__ import annotations

import asyncio

from tests.test_api_redemptions import redeem_race

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def test_users_tokens_channels_logs_and_redemptions_on_every_backend(make_gateway, sql_dsn, fake_openai):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user("storeuser", group="vip", quota=10**7)
    found = (await gateway.api("GET", "/api/user/search?keyword=storeuser"))["data"][0]
    assert (found["group"], found["quota"]) == ("vip", 10**7)
    key = await gateway.add_token(user["access_token"], name="store-token", models="gpt-3.5-turbo",
                                  subnet="127.0.0.0/8")
    await gateway.add_channel(fake_openai.url, key="sk-upstream\nsk-second", name="store-ch",
                              group="default,vip", model_mapping='{"gpt-3.5-turbo": "gpt-4o"}')
    batch = sorted(c["id"] for c in (await gateway.api("GET", "/api/channel/search?keyword=store-ch"))["data"])
    assert len(batch) == 2
    first, second = batch
    client = gateway.openai(key)
    # the second channel's key is wrong for the fake: disable it so that routing is deterministic
    assert (await gateway.api("PUT", "/api/channel/", {"id": second, "status": 2}))["success"]
    reply = await client.chat.completions.create(**CHAT)
    assert reply.choices[0].message.content == "Hello from fake"
    assert fake_openai.requests[-1]["model"] == "gpt-4o"
    await gateway.drain()
    logs = (await gateway.api("GET", "/api/log/?type=2&username=storeuser"))["data"]
    assert [(entry["model_name"], entry["token_name"], entry["channel"]) for entry in logs] == [
        ("gpt-4o", "store-token", first)]
    board = (await gateway.api("GET", "/api/user/dashboard", token=user["access_token"]))["data"]
    assert [(row["ModelName"], row["RequestCount"]) for row in board] == [("gpt-4o", 1)]
    stat = (await gateway.api("GET", "/api/log/self/stat", token=user["access_token"]))["data"]
    assert stat == {"quota": logs[0]["quota"]}
    assert (await gateway.api("DELETE", "/api/channel/disabled"))["data"] == 1
    test = await gateway.api("GET", f"/api/channel/test/{first}")
    assert test["success"], test
    assert (await gateway.api("PUT", "/api/option/", {"key": "Notice", "value": "stored"}))["success"]
    assert (await gateway.api("GET", "/api/notice", token=""))["data"] == "stored"
    await redeem_race(gateway)


async def test_values_the_columns_cannot_hold_are_client_errors(make_gateway, sql_dsn):
    """PostgreSQL and MySQL reject over-long varchars and out-of-range integers: we refuse them first."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user("limits")
    too_long_group = await gateway.api("PUT", "/api/user/", {**user, "group": "g" * 33})
    assert too_long_group == {"success": False, "message": "无效的参数：group 最多 32 个字符"}
    channel = {"type": 1, "key": "k", "name": "n" * 192, "models": "gpt-4o"}
    assert (await gateway.api("POST", "/api/channel/", channel))["message"] == "无效的参数：name 最多 191 个字符"
    channel.update(name="ok", weight=2**40)
    assert (await gateway.api("POST", "/api/channel/", channel))["message"] == "无效的参数：weight 超出范围"
    assert (await gateway.api("PUT", "/api/token/", {"id": 2**40, "name": "x"}))["message"] == "无效的参数"
    assert (await gateway.api("GET", "/api/user/99999999999"))["message"] == "无效的参数"
    assert (await gateway.api("GET", "/api/log/?type=99999999999"))["message"] == "无效的参数：type 超出范围"
    assert (await gateway.api("POST", "/api/topup", {"user_id": 1, "quota": 2**70}))["message"] == (
        "无效的参数：quota 超出范围")
    searched = await gateway.api("GET", "/api/channel/search?keyword=99999999999")
    assert searched == {"success": True, "message": "", "data": []}


async def test_tokens_made_after_the_initial_root_token_get_their_own_ids(make_gateway, sql_dsn):
    """INITIAL_ROOT_TOKEN is stored with id 1, as One API does; the next token must not collide with it."""
    gateway = await make_gateway(SQL_DSN=sql_dsn, INITIAL_ROOT_TOKEN="sk-" + "i" * 48)
    await gateway.add_token(name="after-the-initial")
    ids = sorted(t["id"] for t in (await gateway.api("GET", "/api/token/"))["data"])
    assert ids[0] == 1 and len(ids) == len(set(ids)) >= 2, ids


async def test_a_gateway_stops_while_its_background_steps_are_under_way(make_gateway, server_dsn):
    """Shutdown cancels the background loops mid-statement (here the first log rollup step of a new database).
    A MySQL driver then failed its rollback with another error, which the loops logged and went on from: the
    gateway never stopped."""
    gateway = await make_gateway(SQL_DSN=server_dsn)
    closing = asyncio.ensure_future(gateway.server.close())
    done, _ = await asyncio.wait({closing}, timeout=10)  # not asyncio.timeout: its own cancel was lost the same way
    assert done, "the gateway had not stopped 10 s after it was asked to"
