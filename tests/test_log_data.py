"""Logs at size: hourly sums behind the dashboard and the stats, retention, keyset paging, and query plans.

Rows are generated with bulk SQL inserts; every figure the API answers is compared with a direct aggregate
over the logs table, and the large-data test checks query plans (EXPLAIN), never wall-clock time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict
from typing import Any

import pytest
from peewee import fn

from oneapi.db.models import Log, LogHourly
from oneapi.log_rollup import ALL_USERS, CHUNK, HOUR, roll_up
from oneapi.logs import DELETE_BATCH, LogFilter, log_where, page_query
from tests.conftest import Gateway, fresh_database

COLUMNS = ("user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
           "prompt_tokens", "completion_tokens", "channel_id", "request_id", "elapsed_time", "is_stream",
           "system_prompt_reset")
MODELS = ("gpt-3.5-turbo", "gpt-4o", "claude-3-haiku")
NOW = int(time.time())


@pytest.fixture(autouse=True)
def _clock() -> None:
    """Each test's rows are placed relative to its own start."""
    global NOW
    NOW = int(time.time())


def log_row(user_id: int, created: int, i: int, seed: int = 0) -> tuple[Any, ...]:
    """Generated row number ``i``: every fifth is a top-up log; the model and the figures vary with ``i``."""
    log_type = 1 if (i + seed) % 5 == 0 else 2
    return (user_id, created, log_type, f"row {i}", f"user{user_id}", "tok", MODELS[(i + seed) % 3], 7 + i % 13,
            3 + i % 5, 2 + i % 7, 1, "", 5, False, False)


def log_rows(user_ids: list[int], count: int, newest: int, oldest: int, seed: int = 0) -> list[tuple[Any, ...]]:
    """``count`` rows spread evenly from ``oldest`` to ``newest`` seconds ago."""
    rows = [log_row(user_ids[i % len(user_ids)], NOW - newest - (oldest - newest) * i // max(count - 1, 1), i, seed)
            for i in range(count)]
    return sorted(rows, key=lambda row: row[1])  # ids grow with time, as the ledger writes them


async def age_setup_logs(gateway: Gateway) -> None:
    """Make the setup's rows (sign-up and admin logs) two days old, as in a database that has been running, so
    that ids keep growing with time once the generated rows follow them."""
    await gateway.state.dbs.logs.aexecute_sql(
        f"UPDATE logs SET created_at = created_at - {2 * 86400} WHERE created_at > {NOW - 600}")


async def insert_logs(gateway: Gateway, rows: list[tuple[Any, ...]]) -> None:
    """Bulk INSERTs of generated rows."""
    db = gateway.state.dbs.logs
    param = "?" if type(db).__name__ == "AsyncSqliteDatabase" else "%s"
    placeholders = "(" + ", ".join([param] * len(COLUMNS)) + ")"
    async with gateway.state.dbs.write_transaction(db):
        for start in range(0, len(rows), 200):
            chunk = rows[start:start + 200]
            await db.aexecute_sql(f"INSERT INTO logs ({', '.join(COLUMNS)}) VALUES "
                                  + ", ".join([placeholders] * len(chunk)), [v for row in chunk for v in row])
    await gateway.state.dbs.release()


async def all_logs(gateway: Gateway) -> list[tuple[int, ...]]:
    db = gateway.state.dbs.logs
    cursor = await db.aexecute_sql("SELECT id, user_id, created_at, type, model_name, quota, prompt_tokens, "
                                   "completion_tokens FROM logs ORDER BY id")
    rows = [tuple(int(v) if not isinstance(v, str) else v for v in row) for row in cursor.fetchall()]
    await gateway.state.dbs.release()
    return rows


async def scalar(gateway: Gateway, sql: str) -> int:
    cursor = await gateway.state.dbs.logs.aexecute_sql(sql)
    value = cursor.fetchone()[0]
    await gateway.state.dbs.release()
    return int(value or 0)


def direct_dashboard(logs: list[tuple[int, ...]], user_id: int) -> list[dict[str, Any]]:
    since = NOW - NOW % 86400 - 6 * 86400
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for _, uid, created, log_type, model, quota, prompt, completion in logs:
        if uid == user_id and log_type == 2 and created >= since:
            figures = sums[(time.strftime("%Y-%m-%d", time.gmtime(created)), model)]
            for i, value in enumerate((1, quota, prompt, completion)):
                figures[i] += value
    return [{"Day": day, "ModelName": model, "RequestCount": f[0], "Quota": f[1], "PromptTokens": f[2],
             "CompletionTokens": f[3]} for (day, model), f in sorted(sums.items())]


def direct_quota(logs: list[tuple[int, ...]], user_id: int | None = None, model: str = "", start: int = 0,
                 end: int = 0) -> int:
    return sum(quota for _, uid, created, log_type, name, quota, _, _ in logs
               if log_type == 2 and (user_id is None or uid == user_id) and (not model or name == model)
               and (not start or created >= start) and (not end or created <= end))


async def test_dashboard_and_stats_equal_a_direct_aggregate_over_the_logs(make_gateway, sql_dsn):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    alice, bob = await gateway.add_user(), await gateway.add_user()
    await age_setup_logs(gateway)
    # older than the settling delay: summed into log_hourly; rows stamped ahead of this clock (another node's)
    # have not settled and stay past the mark, read from the logs
    await insert_logs(gateway, log_rows([alice["id"], bob["id"]], 400, newest=60, oldest=9 * 86400))
    await insert_logs(gateway, log_rows([alice["id"]], 6, newest=-900, oldest=-600, seed=1))

    dashboard = await gateway.api("GET", "/api/user/dashboard", token=alice["access_token"])
    logs = await all_logs(gateway)
    assert dashboard["success"] and dashboard["data"] == direct_dashboard(logs, alice["id"])
    mark = await scalar(gateway, "SELECT last_log_id FROM log_rollup_marks WHERE name = 'log_hourly'")
    assert 0 < mark < logs[-1][0]  # summed up to the settled rows; the newest ones come from the logs
    for users in ("user_id <> -1", "user_id = -1"):  # each user's rows, and the rows of all users together
        assert await scalar(gateway, f"SELECT SUM(requests) FROM log_hourly WHERE {users}") == sum(
            1 for row in logs if row[0] <= mark and row[3] == 2)

    # more rows in the same hours: the sums are added to the existing log_hourly rows
    await insert_logs(gateway, log_rows([alice["id"], bob["id"]], 300, newest=30, oldest=8 * 86400, seed=2))
    logs = await all_logs(gateway)
    for user in (alice, bob):
        dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
        assert dashboard["data"] == direct_dashboard(logs, user["id"])

    start, end = NOW - 5 * 86400 - 1234, NOW - 86400 + 777  # not on hour boundaries
    for query, expected in (
        ("type=2", direct_quota(logs)),
        (f"type=2&start_timestamp={start}&end_timestamp={end}", direct_quota(logs, start=start, end=end)),
        (f"model_name=gpt-4o&start_timestamp={start}", direct_quota(logs, model="gpt-4o", start=start)),
        (f"end_timestamp={end}", direct_quota(logs, end=end)),
        (f"start_timestamp={NOW - 7200 + 5}&end_timestamp={NOW - 7200 + 50}",
         direct_quota(logs, start=NOW - 7200 + 5, end=NOW - 7200 + 50)),
    ):
        answer = await gateway.api("GET", f"/api/log/stat?{query}")
        assert answer["data"]["quota"] == expected, query
    # a database summed before the rows of all users existed gets them from the per-user rows
    await gateway.state.dbs.logs.aexecute_sql("DELETE FROM log_hourly WHERE user_id = -1")
    await gateway.state.dbs.logs.aexecute_sql("DELETE FROM log_rollup_marks WHERE name = 'log_hourly_totals'")
    await gateway.state.dbs.release()
    for query, expected in (("type=2", direct_quota(logs)), (f"start_timestamp={start}&model_name=gpt-4o",
                                                           direct_quota(logs, model="gpt-4o", start=start))):
        assert (await gateway.api("GET", f"/api/log/stat?{query}"))["data"]["quota"] == expected, query
    own = await gateway.api("GET", f"/api/log/self/stat?start_timestamp={start}", token=bob["access_token"])
    assert own["data"]["quota"] == direct_quota(logs, user_id=bob["id"], start=start)
    # filters log_hourly has no column for are summed from the logs
    by_name = await gateway.api("GET", f"/api/log/stat?username=user{alice['id']}")
    assert by_name["data"]["quota"] == direct_quota(logs, user_id=alice["id"])


async def test_logs_of_the_last_seconds_of_a_day_or_an_hour_count_in_that_day_and_hour(make_gateway, sql_dsn):
    """MySQL's ``/`` gives a decimal rounded to four places: 23:59:59 / 86400 would be the next day."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user()
    await age_setup_logs(gateway)
    midnight = NOW - NOW % 86400
    stamps = sorted(midnight - days * 86400 + offset for days in range(1, 6)
                    for offset in (-1, -3, 0, 2, HOUR - 1, HOUR - 2, HOUR, -HOUR - 1))
    await insert_logs(gateway, [log_row(user["id"], stamp, i, seed=1) for i, stamp in enumerate(stamps)])
    logs = await all_logs(gateway)
    dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert dashboard["data"] == direct_dashboard(logs, user["id"])
    assert await scalar(gateway, "SELECT last_log_id FROM log_rollup_marks WHERE name = 'log_hourly'") == logs[-1][0]
    cursor = await gateway.state.dbs.logs.aexecute_sql("SELECT user_id, hour, model_name FROM log_hourly")
    hourly = sorted((int(user_id), int(hour), model) for user_id, hour, model in cursor.fetchall() if user_id != -1)
    await gateway.state.dbs.release()
    assert hourly == sorted({(row[1], row[2] // HOUR * HOUR, row[4]) for row in logs if row[3] == 2})  # whole hours
    for start, end in ((midnight - 3 * 86400, midnight - 2 * 86400 - 1), (midnight - 4 * 86400 + HOUR, midnight - 1)):
        answer = await gateway.api("GET", f"/api/log/stat?type=2&start_timestamp={start}&end_timestamp={end}")
        assert answer["data"]["quota"] == direct_quota(logs, start=start, end=end)


async def test_sums_per_second_of_an_earlier_build_are_summed_again_per_hour(make_gateway, sql_dsn):
    """Builds before 2026-12-07 wrote MySQL's log_hourly per second (a decimal division); such a table is summed
    again per hour at the next step, and every figure equals the logs meanwhile and after."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user()
    await age_setup_logs(gateway)
    await insert_logs(gateway, log_rows([user["id"]], 600, newest=60, oldest=86400))  # ~8 a model and hour
    db = gateway.state.dbs.logs
    async with gateway.state.dbs.write_transaction(db):  # the table as such a build left it
        await db.aexecute_sql("DELETE FROM log_hourly")
        for who, grouped in (("user_id", "user_id, "), (str(ALL_USERS), "")):
            await db.aexecute_sql(
                "INSERT INTO log_hourly (user_id, hour, model_name, requests, quota, prompt_tokens, "
                f"completion_tokens) SELECT {who}, created_at, model_name, COUNT(*), SUM(quota), SUM(prompt_tokens), "
                f"SUM(completion_tokens) FROM logs WHERE type = 2 GROUP BY {grouped}created_at, model_name")
        await db.aexecute_sql("DELETE FROM log_rollup_marks WHERE name <> 'log_hourly_totals'")
        await db.aexecute_sql("INSERT INTO log_rollup_marks (name, last_log_id) SELECT 'log_hourly', MAX(id) "
                              "FROM logs")
    await gateway.state.dbs.release()

    logs = await all_logs(gateway)
    dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert dashboard["data"] == direct_dashboard(logs, user["id"])
    while await roll_up(gateway.state):
        pass
    hours = {(row[1], row[2] - row[2] % HOUR, row[4]) for row in logs if row[3] == 2}  # user, hour, model
    assert await scalar(gateway, "SELECT COUNT(*) FROM log_hourly WHERE user_id <> -1") == len(hours)
    dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert dashboard["data"] == direct_dashboard(logs, user["id"])
    assert (await gateway.api("GET", "/api/log/stat?type=2"))["data"]["quota"] == direct_quota(logs)
    start = NOW - 5 * HOUR - 123
    assert (await gateway.api("GET", f"/api/log/stat?type=2&start_timestamp={start}"))["data"]["quota"] \
        == direct_quota(logs, start=start)


async def test_deleting_history_in_batches_keeps_the_sums_equal_to_the_logs(make_gateway, sql_dsn):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user()
    await age_setup_logs(gateway)
    await insert_logs(gateway, log_rows([user["id"]], 2600, newest=60, oldest=6 * 86400))
    await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])  # sums the settled rows
    cutoff = NOW - 3 * 86400 - 17
    before = await all_logs(gateway)
    deleted = await gateway.api("DELETE", f"/api/log/?target_timestamp={cutoff}")
    assert deleted["success"] and deleted["data"] == sum(1 for row in before if row[2] < cutoff) > DELETE_BATCH
    logs = await all_logs(gateway)
    assert logs == [row for row in before if row[2] >= cutoff]
    dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert dashboard["data"] == direct_dashboard(logs, user["id"])
    assert (await gateway.api("GET", "/api/log/stat?type=2"))["data"]["quota"] == direct_quota(logs)


async def test_two_nodes_summing_and_deleting_at_once_wait_for_each_other(make_gateway, server_dsn):
    """Rollup steps (every dashboard read takes one) and log deletions of two nodes at the same moment: on
    MariaDB they once took the mark's row lock by INSERT IGNORE, then both upgraded it (deadlock 1213)."""
    first = await make_gateway(SQL_DSN=server_dsn)
    second = await make_gateway(SQL_DSN=server_dsn)
    user = await first.add_user()
    await age_setup_logs(first)
    await insert_logs(first, log_rows([user["id"]], 3000, newest=60, oldest=6 * 86400))
    cutoff = NOW - 3 * 86400 - 17
    before = await all_logs(first)
    nodes = (first, second) * 4
    answers = await asyncio.gather(
        *(node.api("GET", "/api/user/dashboard", token=user["access_token"]) for node in nodes),
        *(node.api("DELETE", f"/api/log/?target_timestamp={cutoff}") for node in (first, second)))
    assert all(answer["success"] for answer in answers), [a for a in answers if not a["success"]]
    assert answers[-2]["data"] + answers[-1]["data"] == sum(1 for row in before if row[2] < cutoff)
    logs = await all_logs(second)
    assert logs == [row for row in before if row[2] >= cutoff]
    for node in (first, second):
        dashboard = await node.api("GET", "/api/user/dashboard", token=user["access_token"])
        assert dashboard["data"] == direct_dashboard(logs, user["id"])
        assert (await node.api("GET", "/api/log/stat?type=2"))["data"]["quota"] == direct_quota(logs)


async def test_figures_read_while_the_rollup_moves_count_every_log_once(make_gateway, sql_dsn):
    """A rollup step that commits between a reader's sum of log_hourly and its sum of the logs past the mark
    would be counted twice; the readers read again when the mark moved under them."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user()
    await age_setup_logs(gateway)
    await insert_logs(gateway, log_rows([user["id"]], 12 * CHUNK, newest=60, oldest=5 * 86400))
    logs = await all_logs(gateway)
    expected_quota, expected_dashboard = direct_quota(logs), direct_dashboard(logs, user["id"])
    moving = True

    async def step_on() -> None:
        nonlocal moving
        while await roll_up(gateway.state):
            await asyncio.sleep(0)
        await gateway.state.dbs.release()
        moving = False

    stepper, reads = asyncio.create_task(step_on()), 0
    while moving or reads < 3:
        stat = await gateway.api("GET", "/api/log/stat?type=2")
        dashboard = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
        assert (stat["data"]["quota"], dashboard["data"]) == (expected_quota, expected_dashboard)
        reads += 1
    await stepper


async def test_a_step_committed_between_a_readers_two_reads_is_not_counted_twice(make_gateway):
    """PostgreSQL: the test holds log_hourly locked so that a stat read stops between reading the mark and
    summing log_hourly, commits another node's step meanwhile, and lets the read go on."""
    import asyncpg

    dsn, drop = await fresh_database("postgres")
    try:
        gateway = await make_gateway(SQL_DSN=dsn)
        user = await gateway.add_user()
        await age_setup_logs(gateway)
        await insert_logs(gateway, log_rows([user["id"]], 50, newest=60, oldest=3 * 86400))
        await gateway.api("GET", "/api/log/stat?type=2")  # sums them: the mark is at the last
        await insert_logs(gateway, log_rows([user["id"]], 20, newest=0, oldest=3, seed=1))  # not settled here
        logs = await all_logs(gateway)
        other = await asyncpg.connect(dsn)  # another node, whose clock is a few seconds ahead
        try:
            async with other.transaction():
                await other.execute("LOCK TABLE log_hourly IN ACCESS EXCLUSIVE MODE")
                reading = asyncio.create_task(gateway.api("GET", "/api/log/stat?type=2"))
                for _ in range(200):  # until the read waits for the lock
                    await other.execute("SELECT pg_stat_clear_snapshot()")  # a transaction's view is kept otherwise
                    if await other.fetchval("SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                            "AND query LIKE '%log_hourly%'"):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("the read never reached log_hourly")
                mark = await other.fetchval("SELECT last_log_id FROM log_rollup_marks WHERE name = 'log_hourly'")
                for who, grouped in (("user_id", "user_id, "), (str(ALL_USERS), "")):
                    await other.execute(
                        "INSERT INTO log_hourly (user_id, hour, model_name, requests, quota, prompt_tokens, "
                        f"completion_tokens) SELECT {who}, created_at / 3600 * 3600, model_name, COUNT(*), "
                        "SUM(quota), SUM(prompt_tokens), SUM(completion_tokens) FROM logs WHERE id > $1 AND type = 2 "
                        f"GROUP BY {grouped}created_at / 3600 * 3600, model_name ON CONFLICT (user_id, hour, "
                        "model_name) DO UPDATE SET requests = log_hourly.requests + EXCLUDED.requests, "
                        "quota = log_hourly.quota + EXCLUDED.quota", mark)
                await other.execute("UPDATE log_rollup_marks SET last_log_id = (SELECT MAX(id) FROM logs) "
                                    "WHERE name = 'log_hourly'")
            assert (await reading)["data"]["quota"] == direct_quota(logs)
        finally:
            await other.close()
    finally:
        await drop()


async def test_log_retention_deletes_old_logs_at_start_and_keeps_recent_ones(make_gateway, sql_dsn):
    first = await make_gateway(SQL_DSN=sql_dsn)
    user = await first.add_user()
    await age_setup_logs(first)
    await insert_logs(first, log_rows([user["id"]], 1500, newest=4 * 86400, oldest=20 * 86400))  # none near the cutoff
    await insert_logs(first, log_rows([user["id"]], 40, newest=60, oldest=86400, seed=3))
    kept = [row for row in await all_logs(first) if row[2] >= NOW - 3 * 86400]
    second = await make_gateway(SQL_DSN=sql_dsn, ONEAPI_LOG_RETENTION_DAYS="3")
    for _ in range(600):  # its first pass runs right after start
        if len(await all_logs(second)) == len(kept):
            break
        await asyncio.sleep(0.05)
    assert await all_logs(second) == kept
    dashboard = await second.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert dashboard["data"] == direct_dashboard(kept, user["id"])


async def test_next_page_continues_after_the_last_row_shown_even_as_new_logs_arrive(make_gateway, sql_dsn):
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    user = await gateway.add_user()
    await age_setup_logs(gateway)
    await insert_logs(gateway, log_rows([user["id"]], 45, newest=60, oldest=3600))
    ids = [row[0] for row in await all_logs(gateway) if row[3] == 2][::-1]
    first = await gateway.api("GET", "/api/log/?p=0&type=2")
    assert [entry["id"] for entry in first["data"]] == ids[:10]
    await insert_logs(gateway, log_rows([user["id"]], 7, newest=0, oldest=5, seed=1))  # new rows on top
    second = await gateway.api("GET", "/api/log/?p=1&type=2")
    assert [entry["id"] for entry in second["data"]] == ids[10:20]  # OFFSET would repeat rows of page 0
    third = await gateway.api("GET", "/api/log/?p=2&type=2")
    assert [entry["id"] for entry in third["data"]] == ids[20:30]
    # a page jumped to directly is read by OFFSET over the current rows
    ids_now = [row[0] for row in await all_logs(gateway) if row[3] == 2][::-1]
    jumped = await gateway.api("GET", "/api/log/?p=3&type=2&model_name=gpt-4o")
    assert [entry["id"] for entry in jumped["data"]] == [
        row[0] for row in (await all_logs(gateway))[::-1] if row[3] == 2 and row[4] == "gpt-4o"][30:40]
    assert len(ids_now) == len(ids) + sum(1 for row in log_rows([user["id"]], 7, 0, 5, seed=1) if row[2] == 2)


async def test_large_log_table_queries_use_indexes(make_gateway):
    """200 k rows (SQLite, generated in SQL): the pages, stats and dashboard read by index, never a full scan."""
    gateway = await make_gateway()
    user = await gateway.add_user()
    db = gateway.state.dbs.logs
    await age_setup_logs(gateway)
    async with gateway.state.dbs.write_transaction(db):
        await db.aexecute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) "
            "INSERT INTO logs (user_id, created_at, type, content, username, token_name, model_name, quota, "
            "prompt_tokens, completion_tokens, channel_id, request_id, elapsed_time, is_stream, "
            "system_prompt_reset) SELECT 1 + i % 1000, ? - 200000 * 3 + i * 3, 2, '', 'u', 't', "
            "'m' || (i % 100), 10, 5, 5, 1 + i % 1000, '', 1, 0, 0 FROM n", [NOW])
    await gateway.state.dbs.release()
    answer = await gateway.api("GET", "/api/user/dashboard", token=user["access_token"])
    assert answer["success"]
    mark = await scalar(gateway, "SELECT last_log_id FROM log_rollup_marks WHERE name = 'log_hourly'")
    assert mark >= CHUNK  # one step per read

    async def plan(query: Any) -> str:
        sql, params = query.sql()
        cursor = await db.aexecute_sql("EXPLAIN QUERY PLAN " + sql, params)
        text = " | ".join(str(row[-1]) for row in cursor.fetchall())
        await gateway.state.dbs.release()
        return text

    own_page = await plan(Log.select().where(Log.user_id == 5).order_by(Log.id.desc()).limit(10))
    assert "USING INDEX idx_logs_user_id" in own_page and "TEMP B-TREE" not in own_page, own_page
    type_page = await plan(Log.select().where((Log.type == 2) & (Log.id < 5000)).order_by(Log.id.desc()).limit(10))
    assert "SEARCH" in type_page and "TEMP B-TREE" not in type_page, type_page
    keyset = await plan(Log.select().where(Log.id < 150000).order_by(Log.id.desc()).limit(10))
    assert "USING INTEGER PRIMARY KEY (rowid<?)" in keyset, keyset
    hourly = await plan(LogHourly.select().where((LogHourly.user_id == 5) & (LogHourly.hour >= NOW - 86400)))
    assert "SEARCH" in hourly and "SCAN" not in hourly, hourly
    tail = await plan(Log.select().where((Log.id > 190000) & (Log.user_id == 5) & (Log.type == 2)))
    assert "SEARCH" in tail and "SCAN" not in tail, tail
    summed = await scalar(gateway, "SELECT COUNT(*) FROM log_hourly")
    assert summed <= 1000 * 100  # the dashboard's rows: users × models × hours, not one per log

    # the queries the log pages and stats send, as log_where shapes them for SQLite's planner
    async def page_plan(log_filter: LogFilter) -> str:
        return await plan(page_query(await log_where(gateway.state, log_filter), 0, 10))

    for log_filter, index in ((LogFilter(log_type=2, username="u7"), "idx_logs_username_id"),
                              (LogFilter(log_type=2, model_name="m5"), "model_name"),
                              (LogFilter(log_type=2, token_name="t7", start=NOW - 86400), "idx_logs_token_name"),
                              (LogFilter(log_type=2, user_id=5, end=NOW - 3600), "idx_logs_user_id")):
        text = await page_plan(log_filter)
        assert f"INDEX {index}" in text or (index == "model_name" and "model_name" in text), (log_filter, text)
        assert "idx_logs_type_id" not in text and "TEMP B-TREE" not in text, (log_filter, text)
    # the log page opens with end_timestamp = now + 1 h: no bound at all, read down the primary key
    default = await page_plan(LogFilter(end=NOW + 3600))
    assert "idx_created_at_type" not in default and "TEMP B-TREE" not in default, default
    # a wide recent range is read down the ids; a narrow old one by its index (sorting only its rows)
    wide = await page_plan(LogFilter(log_type=2, start=NOW - 400_000, end=NOW))
    assert "idx_created_at_type" not in wide and "TEMP B-TREE" not in wide, wide
    narrow = await page_plan(LogFilter(start=NOW - 500_000, end=NOW - 490_000))
    assert "INDEX idx_created_at_type" in narrow, narrow
    stat = await plan(Log.select(fn.SUM(Log.quota)).where(
        await log_where(gateway.state, LogFilter(log_type=2, username="u7"))))
    assert "INDEX idx_logs_username_id" in stat, stat


    # every query the stats send on logs, as the endpoint sends it: partial hours by created_at, the rows past
    # the mark by id, never a week or the whole table by idx_logs_type_id
    for path in (f"/api/log/stat?type=2&start_timestamp={NOW - 7 * 86400 + 123}&end_timestamp={NOW - 5}",
                 f"/api/log/self/stat?type=2&start_timestamp={NOW - 86400 + 7}&end_timestamp={NOW - 5}",
                 f"/api/log/stat?type=2&model_name=m5&start_timestamp={NOW - 3 * 86400 + 7}"):
        queries = await sent_queries(gateway, path)
        assert queries, path
        for sql, params in queries:
            cursor = await db.aexecute_sql("EXPLAIN QUERY PLAN " + sql, params)
            text = " | ".join(str(row[-1]) for row in cursor.fetchall())
            await gateway.state.dbs.release()
            # type=2 is nine rows in ten: idx_logs_type_id only with a lower id bound (the rows past the mark)
            assert "SCAN" not in text and not re.search(r"idx_logs_type_id \(type=\?( AND id<\?)?\)", text), (
                path, sql, text)


class QueryLog(logging.Handler):
    """The (sql, params) peewee logs at DEBUG for every query."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.queries: list[tuple[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple):
            self.queries.append(record.msg)


async def sent_queries(gateway: Gateway, path: str) -> list[tuple[str, Any]]:
    """The SELECTs on logs that answering GET ``path`` sent."""
    handler, logger = QueryLog(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        answer = await gateway.api("GET", path)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert answer["success"], answer
    return [(sql, params) for sql, params in handler.queries if sql.startswith("SELECT") and 'FROM "logs"' in sql]


@pytest.mark.parametrize("sql_dsn", ["postgres", "mysql"], indirect=True)
async def test_username_and_user_pages_use_their_index_on_postgres_and_mariadb(make_gateway, sql_dsn):
    """The index the username filter gained serves its page in id order on the two servers' planners too."""
    gateway = await make_gateway(SQL_DSN=sql_dsn)
    users = list(range(10, 310))
    await insert_logs(gateway, log_rows(users, 30_000, newest=60, oldest=30 * 86400))
    db = gateway.state.dbs.logs
    mysql = "MySQL" in type(db).__name__
    await db.aexecute_sql("ANALYZE TABLE logs" if mysql else "ANALYZE logs")
    sql, params = page_query(await log_where(gateway.state, LogFilter(log_type=2, username="user17")), 0, 10).sql()
    cursor = await db.aexecute_sql("EXPLAIN " + sql, params)
    rows = cursor.fetchall()
    await gateway.state.dbs.release()
    text = " | ".join(str(row) for row in rows)
    assert "idx_logs_username_id" in text and "filesort" not in text and "Sort" not in text, text
    # a user's own page: PostgreSQL through idx_logs_user_id_id, MariaDB through idx_logs_user_id (its entries
    # end with the primary key), both in id order without a sort
    sql, params = page_query(await log_where(gateway.state, LogFilter(user_id=17)), 0, 10).sql()
    cursor = await db.aexecute_sql("EXPLAIN " + sql, params)
    text = " | ".join(str(row) for row in cursor.fetchall())
    await gateway.state.dbs.release()
    index = "idx_logs_user_id" if mysql else "idx_logs_user_id_id"
    assert re.search(index + r"\b", text) and "filesort" not in text and "Sort" not in text, text


async def test_keyword_search_on_sqlite_finds_what_like_finds(make_gateway):
    """On SQLite the search asks its prefix as a NOCASE range: it answers exactly what ``content LIKE 'kw%'``
    (ASCII letters folded, ``%`` and ``_`` literal) answers, newest first."""
    gateway = await make_gateway()
    contents = ["Model ratio 1", "model RATIO 2", "modelo", "mod", "100% off", "100x off", "a_b", "axb",
                "Élan", "élan", "模型倍率 15", "模型", "", "zz\U0010fffe", "Z", "@x", "[x", "`x", "{x", "\ud7ffa",
                "\ue000", "a\U0010ffff", "a\U0010ffffb", "ab"]
    rows = [(1, NOW - 60 + i, 3, text, "u", "t", "m", 0, 0, 0, 1, "", 0, False, False)
            for i, text in enumerate(contents * 3)]
    await insert_logs(gateway, rows)
    db = gateway.state.dbs.logs
    for keyword in ("model ratio", "MODEL", "mod", "100%", "100", "a_b", "a_", "élan", "É", "模型", "模型倍率",
                    "", "zz", "z", "none", "%", "_", "@", "`", "Z", "[", "\ud7ff",
                    "a\U0010ffff", "\U0010ffff"):
        cursor = await db.aexecute_sql("SELECT id FROM logs WHERE content LIKE ? ESCAPE '\\' "
                                       "ORDER BY id DESC LIMIT 100", [keyword.replace("\\", "\\\\")
                                       .replace("%", "\\%").replace("_", "\\_") + "%"])
        expected = [row[0] for row in cursor.fetchall()]
        await gateway.state.dbs.release()
        answer = await gateway.api("GET", "/api/log/search", params={"keyword": keyword})
        assert [entry["id"] for entry in answer["data"]] == expected, keyword
    assert len((await gateway.api("GET", "/api/log/search", params={"keyword": "3"}))["data"]) >= len(rows)
