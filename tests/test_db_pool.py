"""The connection pool: no request keeps a pooled connection while it waits for anything else."""

from __future__ import annotations

import asyncio

import aiohttp

from oneapi.config import load_settings
from oneapi.db.connect import pool_size_for
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT


def test_pool_size_follows_the_sql_max_conns_variables():
    def size(**env: str) -> int:
        return pool_size_for(load_settings(env))

    assert size() == 100, "One API's defaults: 1000 open, 100 idle"
    assert size(SQL_MAX_OPEN_CONNS="5") == 5
    assert size(SQL_MAX_OPEN_CONNS="50", SQL_MAX_IDLE_CONNS="7") == 7


async def test_500_first_uses_of_500_tokens_share_a_pool_of_5(make_gateway, fake_openai: FakeOpenAI, server_dsn: str):
    admin = await make_gateway(SQL_DSN=server_dsn)
    await admin.add_channel(fake_openai.url)
    # The relay node starts before the tokens exist, so each one is a first use: one database lookup.
    relay = await make_gateway(SQL_DSN=server_dsn, SQL_MAX_OPEN_CONNS="5", SYNC_FREQUENCY="3600", NODE_TYPE="slave")
    limit = asyncio.Semaphore(8)

    async def new_token() -> str:
        async with limit:
            return await admin.add_token()

    keys = await asyncio.gather(*(new_token() for _ in range(500)))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def use(key: str) -> int:
            async with http.post(relay.url + "/v1/chat/completions", json=CHAT,
                                 headers={"Authorization": key}) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(*(use(key) for key in keys))
    assert statuses == [200] * 500
    assert relay.state.dbs.main._pool_size == 5
