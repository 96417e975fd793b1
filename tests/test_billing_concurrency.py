"""Money is exact under load: what the logs charge is exactly what left the user, the token and entered the channel."""

from __future__ import annotations

import asyncio
import time

from tests.test_relay_errors import CHAT


async def test_concurrent_requests_never_overspend_and_balance_to_the_unit(make_gateway, make_fake_openai, sql_dsn):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    fake = await make_fake_openai(gate=asyncio.Event())
    channel = await gateway.add_channel(fake.url)
    user = await gateway.add_user(quota=20_000)
    # Each request reserves int((500 + 90 or 91 body bytes) × 0.25) = 147 (a small prompt is reserved by its
    # byte size) and costs 8. While the upstream holds the answers, the token's 3,000 covers exactly 20
    # reservations: the other 130 of 150 concurrent requests
    # must be refused, and after the answers nothing may be lost or counted twice.
    key = await gateway.add_token(user["access_token"], unlimited_quota=False, remain_quota=3_000)

    async def one(i: int) -> int:
        body = {**CHAT, "stream": i % 2 == 0}
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json=body,
                                     headers={"Authorization": key}) as resp:
            await resp.read()
            return resp.status

    tasks = [asyncio.create_task(one(i)) for i in range(150)]
    deadline = time.monotonic() + 60
    while len(fake.requests) + sum(t.done() for t in tasks) < len(tasks):  # every request held or refused
        assert time.monotonic() < deadline, (len(fake.requests), sum(t.done() for t in tasks))
        await asyncio.sleep(0.02)
    fake.gate.set()
    statuses = await asyncio.gather(*tasks)
    assert (statuses.count(200), statuses.count(403)) == (20, 130), statuses

    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}&p=0"))["data"]
    logs += (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}&p=1"))["data"]
    logs += (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}&p=2"))["data"]
    charged = sum(log["quota"] for log in logs)
    assert len(logs) == 20 and charged == 20 * 8
    after_user = (await gateway.api("GET", f"/api/user/{user['id']}"))["data"]
    tokens = (await gateway.api("GET", "/api/token/", token=user["access_token"]))["data"]
    [token] = [t for t in tokens if not t["unlimited_quota"]]
    after_channel = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert 20_000 - after_user["quota"] == charged
    assert after_user["used_quota"] == charged and after_user["request_count"] == 20
    assert 3_000 - token["remain_quota"] == charged == token["used_quota"]
    assert after_channel["used_quota"] == charged


async def test_the_relay_reads_no_row_per_request(make_gateway, fake_openai, sql_dsn):
    """Auth, routing and prices come from the cache: a relayed request only writes (reserve, settle, log)."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user()
    key = await gateway.add_token(user["access_token"], unlimited_quota=False, remain_quota=100_000)
    client = gateway.openai(key)
    await gateway.drain()
    statements: list[str] = []
    hook = lambda event: statements.append(event.sql)  # noqa: E731 - peewee's documented query hook
    dbs = gateway.state.dbs
    dbs.main.query_hooks.append(hook)
    try:
        for stream in (False, True, False, True):
            answer = await client.chat.completions.create(
                model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], stream=stream)
            if stream:
                [_ async for _ in answer]
        await gateway.drain()
    finally:
        dbs.main.query_hooks.remove(hook)
    # the ledger's background reconciliation (not part of any request) reads its own journal tables
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT") and "ledger_" not in sql]
    assert reads == [], reads
    if sql_dsn:  # PostgreSQL/MySQL: the ledger's writes go through peewee, so the hook saw them
        assert any(sql.lstrip().upper().startswith("UPDATE") for sql in statements), statements
    assert len(await logs_of_user(gateway, user["username"])) == 4


async def logs_of_user(gateway, username: str) -> list[dict]:
    return (await gateway.api("GET", f"/api/log/?type=2&username={username}"))["data"]
