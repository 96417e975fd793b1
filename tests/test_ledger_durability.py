"""Usage writes never delay the response and are never lost: batch mode sums the balance corrections,
but closes every reservation and writes every log row at once; shutdown applies the sums."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, post


def consume_logs(path: str) -> list[tuple[int, int]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT quota, prompt_tokens FROM logs WHERE type = 2").fetchall()


def journal_states(path: str) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT state FROM ledger_reservations")]


def pending_sums(path: str) -> list[tuple[int, int, int, int, int]]:
    """(kind, id, quota, used, requests) of the batch's pending sums: kind 0 a user, 1 a token, 2 a channel."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT kind, target, quota, used, requests FROM ledger_pending ORDER BY kind").fetchall()


def user_row(path: str, user_id: int) -> tuple[int, int, int]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT quota, used_quota, request_count FROM users WHERE id = ?", (user_id,)).fetchone()


async def after_chats(make_gateway: Any, fake_openai: FakeOpenAI, chats: int, **env: str) -> tuple[Gateway, dict]:
    """A gateway (settings ``env``) with a channel on the fake, and a user of 100,000 quota who made ``chats``
    chat requests, all answered."""
    gateway = await make_gateway(**env)
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=100_000)
    key = await gateway.add_token(user["access_token"])
    for _ in range(chats):
        assert (await post(gateway, key, json=CHAT))[0] == 200
    await gateway.drain()
    return gateway, user


async def test_batch_mode_sums_settlements_and_shutdown_writes_them(tmp_path, make_gateway, fake_openai: FakeOpenAI):
    path = str(tmp_path / "batch.db")
    gateway, user = await after_chats(make_gateway, fake_openai, 5, SQLITE_PATH=path, BATCH_UPDATE_ENABLED="true",
                                      BATCH_UPDATE_INTERVAL="3600")
    assert len(consume_logs(path)) == 5, "in batch mode the log rows are written at once"
    quota, used, count = user_row(path, user["id"])
    assert used == 0 and count == 0 and quota < 100_000, "only the reservations are in the balances"
    assert journal_states(path) == [], "every reservation is closed at once"
    charged = sum(q for q, _ in consume_logs(path))
    [(_, user_id, _, user_used, requests), (_, _, _, token_used, _), (_, _, _, channel_used, _)] = pending_sums(path)
    assert (user_id, user_used, requests) == (user["id"], charged, 5), "the charges wait in the pending sums"
    assert token_used == channel_used == charged

    await gateway.server.close()  # a clean shutdown: the app's cleanup flushes the ledger

    logs = consume_logs(path)
    assert len(logs) == 5 and all(prompt == 11 for _, prompt in logs)
    assert sum(q for q, _ in logs) == charged
    assert user_row(path, user["id"]) == (100_000 - charged, charged, 5)
    assert pending_sums(path) == [], "the flush applied every sum"


async def test_logs_can_live_in_their_own_database(tmp_path, make_gateway, fake_openai: FakeOpenAI, server_dsn: str):
    path = str(tmp_path / "main.db")
    gateway, user = await after_chats(make_gateway, fake_openai, 1, SQLITE_PATH=path, LOG_SQL_DSN=server_dsn)
    [log] = (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}"))["data"]
    assert log["prompt_tokens"] == 11
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "users" in tables and "logs" not in tables, "the logs table lives only in the log database"
    assert user_row(path, user["id"])[1] == log["quota"], "usage still settles in the main database"


async def test_the_sqlite_file_itself_holds_the_charges_soon_after_they_are_written(
        tmp_path, make_gateway, fake_openai: FakeOpenAI):
    """The write-ahead log is copied back into the database file shortly after the ledger writes, by a thread of
    its own, instead of inside the commit that takes the log past 1,000 pages (which made every ~40th request
    wait ~5 ms). Read here: a copy of the database file alone, without its -wal file."""
    path = tmp_path / "wal.db"
    await after_chats(make_gateway, fake_openai, 3, SQLITE_PATH=str(path))

    def file_alone_logs() -> int:
        copy = tmp_path / "copy.db"
        copy.write_bytes(path.read_bytes())
        try:
            return len(consume_logs(str(copy)))
        except sqlite3.OperationalError:  # not even the tables are in the file yet
            return 0

    for _ in range(100):
        if file_alone_logs() == 3:
            break
        await asyncio.sleep(0.05)
    assert file_alone_logs() == 3


async def test_a_charge_an_earlier_builds_batch_mode_left_on_its_journal_row_is_applied_at_start(
        tmp_path, make_gateway):
    """Before 2026-12-08 batch mode recorded a charge on its reservation row (state 1, SETTLED) and corrected the
    balance at the flush; a process killed before it left such rows. The next start applies them."""
    path = str(tmp_path / "earlier.db")
    gateway = await make_gateway(SQLITE_PATH=path)
    user = await gateway.add_user(quota=100_000)
    await gateway.server.close()
    with sqlite3.connect(path) as db:  # held 500 when it reserved, charged 300
        db.execute("UPDATE users SET quota = quota - 500 WHERE id = ?", (user["id"],))
        db.execute("INSERT INTO ledger_reservations (id, request_id, user_id, token_id, token_limited, channel_id, "
                   "amount, charge, counted, state, instance, created_at) "
                   "VALUES (?, '', ?, 0, 0, 0, 500, 300, 1, 1, ?, 0)", ("e" * 32, user["id"], "d" * 32))

    await make_gateway(SQLITE_PATH=path)

    assert user_row(path, user["id"]) == (100_000 - 300, 300, 1)
    assert journal_states(path) == []
