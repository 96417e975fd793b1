"""Chaos: kill -9, a database that goes away, two nodes on one token. After each, the books balance: the
consume logs add up to exactly what left the user and the token, no reservation is left, nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from oneapi.billing.spill import SEGMENT_BYTES
from tests.chaos import Books, Load, Node, Proxy, books, duplicate_consume_logs, eventually, held, outbox
from tests.conftest import fresh_database
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_multinode import REDIS_URL, _redis_up

USER_QUOTA = 10**7
TOKEN_QUOTA = 10**6


async def _database(backend: str) -> tuple[str, object]:
    if backend == "sqlite":
        async def nothing() -> None:
            return None
        return "", nothing
    return await fresh_database(backend)


async def _customer(node: Node, token_quota: int = TOKEN_QUOTA) -> tuple[dict, str]:
    gateway = node.gateway()
    user = await gateway.add_user(quota=USER_QUOTA)
    key = await gateway.add_token(user["access_token"], name="chaos", unlimited_quota=False,
                                  remain_quota=token_quota)
    return user, key


async def _under_load(node: Node, fake: FakeOpenAI) -> tuple[dict, Load]:
    """Start the node, give it a channel and a customer, and put 8 concurrent clients on it."""
    await node.start()
    await node.gateway().add_channel(fake.url)
    user, key = await _customer(node)
    load = Load([node], key, concurrency=8)
    load.start()
    return user, load


def assert_balanced(book: Books, token_quota: int = TOKEN_QUOTA) -> None:
    assert book.held == 0, "no reservation is left"
    assert USER_QUOTA - book.user_quota == book.logged == book.user_used, book
    assert token_quota - book.token_remain == book.logged == book.token_used, book
    assert book.logs == book.requests, book


@pytest.mark.parametrize(("backend", "batch"), [("sqlite", False), ("sqlite", True), ("mysql", False),
                                                ("mysql", True), ("postgres", False), ("postgres", True)])
async def test_kill_9_under_load_then_restart_loses_nothing(tmp_path, serve_fake, backend: str, batch: bool):
    dsn, drop = await _database(backend)
    fake = await serve_fake(FakeOpenAI(chunks=6, chunk_delay=0.02))
    env = {"SQL_DSN": dsn}
    if batch:  # nothing is flushed before the kill: every balance correction must come back from the journal
        env.update(BATCH_UPDATE_ENABLED="true", BATCH_UPDATE_INTERVAL="3600")
    node = Node(tmp_path, env)
    try:
        user, load = await _under_load(node, fake)

        async def busy() -> bool:
            return load.answered >= 40

        await eventually(busy, what="40 answers")
        node.kill()  # streams and plain requests are in flight
        await load.stop()
        await node.start()  # the restart refunds what the dead process held
        book = await books(dsn, tmp_path / "one-api.db", user["id"], "chaos")
        assert_balanced(book)
        assert book.logs >= load.answered, "every answered request is billed and logged"
        assert set(load.statuses) <= {0, 200}, load.bodies[:3]
    finally:
        await node.stop()
        await drop()


def _through(proxy: Proxy, dsn: str, port: int) -> str:
    return dsn.replace(f":{port}/", f":{proxy.port}/").replace(f":{port})/", f":{proxy.port})/")


@contextlib.asynccontextmanager
async def _node_behind_proxy(tmp_path: Path, serve_fake: Any, backend: str, port: int, variable: str = "SQL_DSN",
                             chunk_delay: float = 0.02) -> AsyncIterator[tuple[str, Proxy, Any, Node]]:
    """A node whose database (``variable``: SQL_DSN or LOG_SQL_DSN) it reaches through a proxy the test can cut;
    yields (the database's own DSN, the proxy, the fake upstream, the node), all torn down afterwards."""
    dsn, drop = await fresh_database(backend)
    proxy = Proxy(port)
    await proxy.start()
    fake = await serve_fake(FakeOpenAI(chunks=6, chunk_delay=chunk_delay))
    node = Node(tmp_path, {variable: _through(proxy, dsn, port)})
    try:
        yield dsn, proxy, fake, node
    finally:
        await node.stop()
        await proxy.close()
        await drop()


def _answered(load: Load, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return load.answered >= count

    return check


@pytest.mark.parametrize(("backend", "port"), [("mysql", 3306), ("postgres", 5432)])
async def test_database_cut_under_load_then_back(tmp_path, serve_fake, backend: str, port: int):
    async with _node_behind_proxy(tmp_path, serve_fake, backend, port) as (dsn, proxy, fake, node):
        user, load = await _under_load(node, fake)
        await eventually(_answered(load, 20), what="20 answers")
        proxy.cut()

        async def refused() -> bool:
            return load.statuses[503] >= 3

        await eventually(refused, what="503s while the database is away")
        await asyncio.sleep(3)  # how long the database stays away (no assertion depends on it)
        proxy.restore()
        await eventually(_answered(load, load.answered + 20), what="answers after the database came back")
        await load.stop()

        async def settled() -> bool:
            book = await books(dsn, tmp_path / "one-api.db", user["id"], "chaos")
            return book.held == 0 and book.logs == book.requests and book.logs >= load.answered

        await eventually(settled, what="every queued settlement written")
        assert_balanced(await books(dsn, tmp_path / "one-api.db", user["id"], "chaos"))
        assert set(load.statuses) <= {200, 503}, load.bodies[:3]
        for body in load.bodies:
            error = orjson.loads(body)["error"]
            assert error["code"] == "database_unavailable" and error["type"] and "message" in error


async def test_kill_9_while_the_database_is_away_replays_the_spill_file(tmp_path, serve_fake):
    async with _node_behind_proxy(tmp_path, serve_fake, "postgres", 5432, chunk_delay=0.05) as (
            dsn, proxy, fake, node):
        user, load = await _under_load(node, fake)
        await eventually(_answered(load, 20), what="20 answers")
        proxy.cut()
        at_cut = load.answered

        async def answered_while_away() -> bool:
            return load.answered > at_cut and load.statuses[503] > 0

        await eventually(answered_while_away, what="answers settled while the database is away")
        node.kill()
        await load.stop()
        [spill] = list(tmp_path.glob("oneapi-ledger-*-main-*.jsonl"))
        assert spill.read_bytes(), "the settlements the database could not take are in the spill file"
        proxy.restore()
        await node.start()  # replays the dead process's spill file, then refunds what it held
        assert not spill.exists()
        book = await books(dsn, tmp_path / "one-api.db", user["id"], "chaos")
        assert_balanced(book)
        assert book.logs >= load.answered, "every answered request is billed and logged"


async def test_log_database_cut_keeps_the_rows_in_the_outbox_then_moves_each_once(tmp_path, serve_fake):
    """Relaying goes on while the log database is away; the log rows wait in the main database (not in the
    gateway's memory) and reach the log database once each when it is back."""
    async with _node_behind_proxy(tmp_path, serve_fake, "mysql", 3306, variable="LOG_SQL_DSN") as (
            log_dsn, proxy, fake, node):
        sqlite = tmp_path / "one-api.db"
        user, load = await _under_load(node, fake)
        await eventually(_answered(load, 10), what="10 answers")
        proxy.cut()
        at_cut = load.answered
        await eventually(_answered(load, at_cut + 60), what="answers while the log database is away")
        # every answer is settled, with its log row, before its last byte: these cannot have left the outbox
        assert await outbox("", sqlite) >= load.answered - at_cut - load.concurrency
        proxy.restore()
        await eventually(_answered(load, load.answered + 20), what="answers after the log database came back")
        await load.stop()

        async def moved() -> bool:
            return await outbox("", sqlite) == 0

        await eventually(moved, what="the outbox moved to the log database")
        book = await books("", sqlite, user["id"], "chaos", log_dsn=log_dsn)
        assert_balanced(book)
        assert book.logs >= load.answered
        assert await duplicate_consume_logs(log_dsn, sqlite) == 0
        assert set(load.statuses) == {200}, load.bodies[:3]


@pytest.mark.parametrize("main", ["sqlite", "mysql"])
async def test_kill_9_with_a_separate_log_database_loses_no_log_row(tmp_path, serve_fake, main: str):
    """A settlement and its log row are durable together: after kill -9 and a restart, the log database holds
    one row per billed request, adding up to exactly what left the balance. The log database is slow (every
    packet to it waits 30 ms), so at the kill many log rows are on their way to it."""
    dsn, drop = await _database(main)
    log_dsn, drop_logs = await fresh_database("postgres")
    proxy = Proxy(5432, latency=0.03)
    await proxy.start()
    fake = await serve_fake(FakeOpenAI(chunks=6, chunk_delay=0.02))
    node = Node(tmp_path, {"SQL_DSN": dsn, "LOG_SQL_DSN": _through(proxy, log_dsn, 5432)})
    sqlite = tmp_path / "one-api.db"
    try:
        user, load = await _under_load(node, fake)
        await eventually(_answered(load, 60), what="60 answers")
        node.kill()
        await load.stop()
        await node.start()  # adopts the dead process's outbox rows and moves them

        async def moved() -> bool:
            return await outbox(dsn, sqlite) == 0

        await eventually(moved, what="the outbox moved to the log database")
        book = await books(dsn, sqlite, user["id"], "chaos", log_dsn=log_dsn)
        assert_balanced(book)  # one log row per settled request, summing to the balance drop; nothing held
        # answered requests are logged; the few more were settled just before the kill, their answer cut off
        assert load.answered <= book.logs <= load.answered + load.concurrency, (load.answered, book)
        assert await duplicate_consume_logs(log_dsn, sqlite) == 0
    finally:
        await node.stop()
        await proxy.close()
        await drop()
        await drop_logs()


@pytest.mark.parametrize("backend", ["mysql", "postgres"])
async def test_two_nodes_spend_one_limited_token_once(tmp_path, serve_fake, backend: str):
    """A reservation of zero (tiny ratio, PreConsumedQuota 0) is still checked against the shared balance:
    two nodes overspend by at most what they have in flight, not by a second quota. In flight is, per client,
    one open reservation and one answered settlement not yet committed (its request was answered once it was
    in the node's write-ahead file): 8 requests of 1 for 4 clients."""
    env: dict[str, str] = {}
    if backend == "mysql":
        if not await _redis_up():
            pytest.skip("Redis is not running here")
        env["REDIS_CONN_STRING"] = REDIS_URL
    dsn, drop = await fresh_database(backend)
    env.update(SQL_DSN=dsn, SYNC_FREQUENCY="3600")
    fake = await serve_fake(FakeOpenAI())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    node_a = Node(tmp_path / "a", env)
    node_b = Node(tmp_path / "b", {**env, "NODE_TYPE": "slave"})
    try:
        await node_a.start()
        admin = node_a.gateway()
        await admin.add_channel(fake.url)
        for option, value in (("PreConsumedQuota", "0"), ("ModelRatio", '{"gpt-3.5-turbo": 0.001}')):
            assert (await admin.api("PUT", "/api/option/", {"key": option, "value": value}))["success"]
        token_quota = 30
        user, key = await _customer(node_a, token_quota)
        await node_b.start()
        load = Load([node_a, node_b], key, concurrency=4)
        load.start()

        async def exhausted() -> bool:
            return load.statuses[403] + load.statuses[401] >= 20

        await eventually(exhausted, what="the token running out on both nodes")
        await load.stop()
        book = await books(dsn, tmp_path, user["id"], "chaos")
        assert book.token_remain >= -8, f"overspent beyond the requests in flight: {book}"
        assert 26 <= book.logs <= 38, book
        assert_balanced(book, token_quota)
    finally:
        await node_a.stop()
        await node_b.stop()
        await drop()


async def test_the_sqlite_log_and_the_write_ahead_file_stay_short_under_steady_load(tmp_path, serve_fake):
    """SQLite's log starts over only after a complete copy into the database file, and a copy made while the
    writers go on is never complete: without the ledger's own finishing copy the -wal file reached 429 MB in
    these 8 s (it stays under 10 MB), and every read has to search it. The ledger's write-ahead file, which
    every settlement goes through, is emptied once all of it is written (``test_spill_segments`` for a load
that never lets it be)."""
    node = Node(tmp_path, {})
    try:
        _, load = await _under_load(node, await serve_fake(FakeOpenAI()))
        wal, largest, ahead = tmp_path / "one-api.db-wal", 0, 0
        for _ in range(40):
            await asyncio.sleep(0.2)
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
            ahead = max(ahead, sum(path.stat().st_size for path in tmp_path.glob("oneapi-ledger-*.jsonl")))
        await load.stop()
        assert load.answered > 1000
        assert largest < 24 * 2**20, f"the log reached {largest / 2**20:.0f} MB"
        assert ahead < 3 * SEGMENT_BYTES, f"the write-ahead file reached {ahead / 2**20:.1f} MB"
    finally:
        await node.stop()
    assert not list(tmp_path.glob("oneapi-ledger-*.jsonl")), "a clean stop leaves no write-ahead file"


async def test_kill_9_after_answers_whose_settlements_are_not_committed_yet_loses_nothing(tmp_path, serve_fake):
    """Answers go out once their settlements are in the write-ahead file, before the database has them: here the
    test holds SQLite's write lock from the moment the reservations are in, so no settlement can commit, the
    six answers still arrive, and a kill -9 then leaves them only in the file. The restart bills every one."""
    fake = await serve_fake(FakeOpenAI(gate=asyncio.Event()))
    node = Node(tmp_path, {"SQLITE_BUSY_TIMEOUT": "60000"})  # the settlements wait for the lock, not fail
    database = tmp_path / "one-api.db"
    try:
        await node.start()
        await node.gateway().add_channel(fake.url)
        user, key = await _customer(node)
        chat = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}

        async def ask() -> int:
            assert node.http is not None
            async with node.http.post(node.url + "/v1/chat/completions", json=chat,
                                      headers={"Authorization": key}) as resp:
                await resp.read()
                return resp.status

        asking = [asyncio.create_task(ask()) for _ in range(6)]

        async def reserved() -> bool:
            return await held("", database) == 6 and len(fake.requests) == 6  # books() would wait for 0

        await eventually(reserved, what="six reservations in the database")
        lock = sqlite3.connect(database, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # from here on nothing commits
        try:
            fake.gate.set()
            assert await asyncio.wait_for(asyncio.gather(*asking), 30) == [200] * 6
            node.kill()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        [(journal_rows,)] = sqlite3.connect(database).execute("SELECT COUNT(*) FROM ledger_reservations").fetchall()
        assert journal_rows == 6, "the answered requests were not settled in the database before the kill"
        assert any(path.read_bytes() for path in tmp_path.glob("oneapi-ledger-*-main-*.jsonl"))
        await node.start()  # replays the write-ahead file
        book = await books("", database, user["id"], "chaos")
        assert_balanced(book)
        assert book.logs == 6, "every answered request is billed and logged"
    finally:
        await node.stop()
