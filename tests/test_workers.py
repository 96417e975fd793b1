"""``--workers 2`` on SQLite, run as ``python -m oneapi``: the ledger stays exact across the processes, a cache
change reaches every worker without Redis, a killed worker is replaced, and SIGTERM stops them all, flushed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Gateway, gateway_env
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess, free_port
from tests.test_relay_errors import CHAT

REQUESTS = 300
CONCURRENCY = 24


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def relay(http: aiohttp.ClientSession, url: str, key: str, stream: bool) -> int:
    async with http.post(url + "/v1/chat/completions", json={**CHAT, "stream": stream},
                         headers={"Authorization": key}) as resp:
        await resp.read()
        return resp.status


async def statuses_on_fresh_connections(url: str, key: str, count: int, concurrency: int = 8) -> list[int]:
    """``count`` requests, each on a new connection, so that SO_REUSEPORT spreads them over the workers."""
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async def one(i: int) -> int:
            async with limit:
                return await relay(http, url, key, stream=i % 2 == 0)

        return list(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.fixture
async def two_workers(tmp_path):
    env = {**os.environ, **gateway_env(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SQL_DSN", None)
    node = GatewayProcess(free_port(), env, tmp_path, "--workers", "2")
    node.start()
    try:
        await node.wait_ready()
        yield node
    finally:
        await node.stop()


async def test_two_workers_keep_the_books_exact_and_share_cache_changes(two_workers: GatewayProcess, tmp_path,
                                                                         serve_fake):
    node = two_workers
    fake: FakeOpenAI = await serve_fake(FakeOpenAI())
    assert len(children(node.proc.pid)) == 2
    async with aiohttp.ClientSession() as http:
        admin = Gateway(node.url, app=None, http=http, server=None)  # type: ignore[arg-type]
        channel = await admin.add_channel(fake.url)
        user = await admin.add_user(quota=20_000)
        # Each request reserves 127 and costs 8 (tests/test_billing_concurrency.py): 1,500 runs out mid-load.
        limited = await admin.add_token(user["access_token"], unlimited_quota=False, remain_quota=1_500)
        spare = await admin.add_token()  # root's, so that the user's books hold only the limited token

        statuses = await statuses_on_fresh_connections(node.url, limited, REQUESTS, CONCURRENCY)
        assert set(statuses) <= {200, 403} and statuses.count(200) > 0 and statuses.count(403) > 0, statuses

        # A token disabled through one worker is refused by every worker within a second.
        assert set(await statuses_on_fresh_connections(node.url, spare, 16)) == {200}
        [spare_row] = [t for t in (await admin.api("GET", "/api/token/"))["data"] if "sk-" + t["key"] == spare]
        disabled = await admin.api("PUT", "/api/token/?status_only=1", {"id": spare_row["id"], "status": 2})
        assert disabled["success"], disabled
        await asyncio.sleep(1.0)
        assert set(await statuses_on_fresh_connections(node.url, spare, 32)) == {401}

        # kill -9 of a worker while idle: the supervisor starts a new one, and both serve.
        victim = children(node.proc.pid)[1]
        os.kill(victim, signal.SIGKILL)
        for _ in range(600):
            if len(children(node.proc.pid)) == 2 and victim not in children(node.proc.pid):
                break
            await asyncio.sleep(0.1)
        assert len(children(node.proc.pid)) == 2 and victim not in children(node.proc.pid)
        await node.wait_ready()
        assert set(await statuses_on_fresh_connections(node.url, spare, 16)) == {401}
        assert set(await statuses_on_fresh_connections(node.url, await admin.add_token(), 16)) == {200}

    assert await node.stop() == 0, node.output()
    db = sqlite3.connect(tmp_path / "one-api.db")
    logs = db.execute("SELECT COUNT(*), COALESCE(SUM(quota), 0) FROM logs WHERE type = 2 AND user_id = ?",
                      (user["id"],)).fetchone()
    assert logs == (statuses.count(200), statuses.count(200) * 8), "one log row per answered request"
    charged = logs[1]
    quota, used, requests = db.execute("SELECT quota, used_quota, request_count FROM users WHERE id = ?",
                                       (user["id"],)).fetchone()
    assert (20_000 - quota, used, requests) == (charged, charged, statuses.count(200))
    remain, token_used = db.execute("SELECT remain_quota, used_quota FROM tokens WHERE `key` = ?",
                                    (limited.removeprefix("sk-"),)).fetchone()
    assert (1_500 - remain, token_used) == (charged, charged), "no reservation left behind"
    (channel_used,) = db.execute("SELECT used_quota FROM channels WHERE id = ?", (channel["id"],)).fetchone()
    assert (channel_used,) == db.execute("SELECT SUM(quota) FROM logs WHERE type = 2").fetchone()
