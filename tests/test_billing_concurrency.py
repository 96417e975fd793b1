"""Money is exact under load: what the logs charge is exactly what left the user, the token and entered the channel."""

from __future__ import annotations

import asyncio

from tests.test_relay_errors import CHAT


async def test_concurrent_requests_never_overspend_and_balance_to_the_unit(make_gateway, make_fake_openai, sql_dsn):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    fake = await make_fake_openai(chunk_delay=0.01)
    channel = await gateway.add_channel(fake.url)
    user = await gateway.add_user(quota=20_000)
    # Each request reserves about 127 quota and costs 8, so only part of 150 concurrent requests fit in
    # the token's 3,000: the rest must be refused, and nothing may be lost or counted twice.
    key = await gateway.add_token(user["access_token"], unlimited_quota=False, remain_quota=3_000)

    async def one(i: int) -> int:
        body = {**CHAT, "stream": i % 2 == 0}
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json=body,
                                     headers={"Authorization": key}) as resp:
            await resp.read()
            return resp.status

    statuses = await asyncio.gather(*(one(i) for i in range(150)))
    assert set(statuses) <= {200, 403}, statuses
    assert statuses.count(200) >= 20 and statuses.count(403) >= 1, statuses

    await gateway.drain()
    logs = []
    page = 0
    while True:
        rows = (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}&p={page}"))["data"]
        logs += rows
        if len(rows) < 10:
            break
        page += 1
    charged = sum(log["quota"] for log in logs)
    assert len(logs) == statuses.count(200)
    after_user = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    tokens = (await gateway.api("GET", "/api/token/", token=user["access_token"]))["data"]
    [token] = [t for t in tokens if not t["unlimited_quota"]]
    after_channel = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert 20_000 - after_user["quota"] == charged
    assert after_user["used_quota"] == charged and after_user["request_count"] == len(logs)
    assert 3_000 - token["remain_quota"] == charged == token["used_quota"]
    assert after_channel["used_quota"] == charged
    assert token["remain_quota"] >= 0 and after_user["quota"] >= 0
