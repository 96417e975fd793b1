"""Two nodes on one database and one Redis: an edit on one node applies on the other at once."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from tests.conftest import _services_required, fresh_database
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, post

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_up() -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 6379), 2)
    except OSError:
        return False
    writer.close()
    return True


@pytest.fixture
async def pg_dsn():
    if not await _redis_up():
        if _services_required():
            raise RuntimeError("Redis is not running on 127.0.0.1:6379")
        pytest.skip("Redis is not running here")
    dsn, drop = await fresh_database("postgres")
    yield dsn
    await drop()


async def eventually(check, seconds: float = 10.0) -> None:
    """Poll until ``check()`` is true; pub/sub delivery takes milliseconds, the bound is generous."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the other node never saw the change"
        await asyncio.sleep(0.05)


async def test_edits_reach_the_other_node_through_redis(make_gateway, fake_openai: FakeOpenAI, pg_dsn: str):
    env = {"SQL_DSN": pg_dsn, "REDIS_CONN_STRING": REDIS_URL, "SYNC_FREQUENCY": "600"}
    node_a = await make_gateway(**env)
    node_b = await make_gateway(**env, NODE_TYPE="slave")
    for node in (node_a, node_b):
        await asyncio.wait_for(node.state.sync.ready.wait(), 10)

    channel = await node_a.add_channel(fake_openai.url)
    key = await node_a.add_token()

    async def b_serves() -> bool:
        return (await post(node_b, key, json=CHAT))[0] == 200

    await eventually(b_serves)  # the channel created on A is routed by B

    token = next(t for t in (await node_a.api("GET", "/api/token/"))["data"] if "sk-" + t["key"] == key)
    await node_a.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 2})

    async def b_refuses_token() -> bool:
        status, body = await post(node_b, key, json=CHAT)
        return status == 401 and "该令牌状态不可用" in body["error"]["message"]

    await eventually(b_refuses_token)

    await node_a.api("PUT", "/api/token/?status_only=1", {"id": token["id"], "status": 1})
    await eventually(b_serves)
    await node_a.api("PUT", "/api/channel/", {"id": channel["id"], "status": 2})

    async def b_stops_routing() -> bool:
        return (await post(node_b, key, json=CHAT))[0] == 503

    await eventually(b_stops_routing)

    await node_a.api("PUT", "/api/option/", {"key": "SystemName", "value": "Cluster"})

    async def b_sees_option() -> bool:
        return (await node_b.api("GET", "/api/status", token=""))["data"]["system_name"] == "Cluster"

    await eventually(b_sees_option)


async def test_rate_limits_are_shared_through_redis(make_gateway, pg_dsn: str):
    env = {"SQL_DSN": pg_dsn, "REDIS_CONN_STRING": REDIS_URL, "SYNC_FREQUENCY": "600", "DEBUG": "false",
           "GLOBAL_API_RATE_LIMIT": "4"}
    node_a = await make_gateway(**env)
    node_b = await make_gateway(**env, NODE_TYPE="slave")
    # A client address of its own, so that reruns within Redis's 20-minute expiry start from zero.
    client = {"X-Forwarded-For": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
    statuses = []
    for node in (node_a, node_b, node_a, node_b, node_a, node_b):
        async with node.http.get(node.url + "/api/status", headers=client) as resp:
            statuses.append(resp.status)
    assert statuses == [200, 200, 200, 200, 429, 429], "four requests per window across both nodes"
