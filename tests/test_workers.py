"""``--workers 2`` on SQLite, run as ``python -m oneapi``: the ledger stays exact across the processes, a cache
change reaches every worker without Redis, a killed worker is replaced and its reservations refunded, and
SIGTERM stops them all, flushed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.chaos import Load, Node, books, eventually
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_chaos import _customer, assert_balanced
from tests.test_relay_errors import CHAT

WORKERS = ("--workers", "2")


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def statuses_on_fresh_connections(url: str, key: str, count: int, concurrency: int = 8) -> list[int]:
    """``count`` requests, each on a new connection, so that SO_REUSEPORT spreads them over the workers."""
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async def one(i: int) -> int:
            async with limit, http.post(url + "/v1/chat/completions", json={**CHAT, "stream": i % 2 == 0},
                                        headers={"Authorization": key}) as resp:
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def replace_a_worker(node: Node) -> None:
    """kill -9 of worker 1; returns once the supervisor has started its successor."""
    assert node.proc is not None
    victim = children(node.proc.pid)[1]
    os.kill(victim, signal.SIGKILL)

    async def replaced() -> bool:
        now = children(node.proc.pid)  # type: ignore[union-attr]
        return len(now) == 2 and victim not in now

    await eventually(replaced, 60, "a new worker")


@pytest.fixture
async def node(tmp_path, request):
    node = Node(tmp_path, getattr(request, "param", {}), WORKERS)  # settings: parametrize with indirect=True
    try:
        await node.start()
        yield node
    finally:
        await node.stop()


async def test_two_workers_keep_the_books_exact_and_share_cache_changes(node: Node, tmp_path, serve_fake):
    fake: FakeOpenAI = await serve_fake(FakeOpenAI())
    admin = node.gateway()
    await admin.add_channel(fake.url)
    # Each request reserves 127 and costs 8 (tests/test_billing_concurrency.py): 1,500 runs out mid-load.
    user, limited = await _customer(node, token_quota=1_500)
    statuses = await statuses_on_fresh_connections(node.url, limited, 300, concurrency=24)
    # 403: a reservation the token cannot cover; 401: the token is spent (One API's "额度已用尽").
    assert set(statuses) <= {200, 401, 403} and statuses.count(200) > 0 and statuses.count(200) < 300, statuses

    # A token disabled through one worker is refused by every worker within a second.
    spare = await admin.add_token()  # root's, so that the user's books hold only the limited token
    assert set(await statuses_on_fresh_connections(node.url, spare, 16)) == {200}
    [row] = [t for t in (await admin.api("GET", "/api/token/"))["data"] if "sk-" + t["key"] == spare]
    assert (await admin.api("PUT", "/api/token/?status_only=1", {"id": row["id"], "status": 2}))["success"]
    async def refused_everywhere() -> bool:  # pushed at once through the supervisor's socket; the bound is generous
        return set(await statuses_on_fresh_connections(node.url, spare, 32)) == {401}

    await eventually(refused_everywhere, 10, "the disabled token refused by every worker")

    # A replaced worker starts from the database: it refuses the disabled token and serves a new one.
    await replace_a_worker(node)
    assert set(await statuses_on_fresh_connections(node.url, spare, 16)) == {401}
    assert set(await statuses_on_fresh_connections(node.url, await admin.add_token(), 16)) == {200}

    await node.stop()
    assert node.proc is not None and node.proc.returncode == 0, node.output()
    book = await books("", tmp_path / "one-api.db", user["id"], "chaos")
    assert_balanced(book, token_quota=1_500)
    assert book.logs == statuses.count(200), "one log row per answered request"


# In batch mode the killed worker's pending sums must be applied too (the live one flushes every second).
@pytest.mark.parametrize("node", [{}, {"BATCH_UPDATE_ENABLED": "true", "BATCH_UPDATE_INTERVAL": "1"}],
                         ids=["default", "batch"], indirect=True)
async def test_a_worker_killed_under_load_is_replaced_and_its_reservations_refunded(node: Node, tmp_path,
                                                                                    serve_fake):
    fake: FakeOpenAI = await serve_fake(FakeOpenAI(chunks=6, chunk_delay=0.02))
    await node.gateway().add_channel(fake.url)
    user, key = await _customer(node)
    load = Load([node], key, concurrency=8)
    load.start()
    await eventually(lambda: _at_least(load, 40), what="40 answers")
    await replace_a_worker(node)  # streams and plain requests are in flight on it
    answered_at_kill = load.answered
    await eventually(lambda: _at_least(load, answered_at_kill + 40), what="40 more answers")
    await load.stop()

    async def nothing_held() -> bool:  # worker 0 refunds the dead worker's holds once its heartbeat is stale
        return (await books("", tmp_path / "one-api.db", user["id"], "chaos")).held == 0

    await eventually(nothing_held, 120, "the refund of the killed worker's reservations")
    await node.stop()
    assert node.proc is not None and node.proc.returncode == 0, node.output()
    book = await books("", tmp_path / "one-api.db", user["id"], "chaos")
    assert_balanced(book)
    assert book.logs >= load.answered, "every answered request is billed and logged"
    assert set(load.statuses) <= {0, 200}, load.bodies[:3]


async def _at_least(load: Load, answered: int) -> bool:
    return load.answered >= answered
