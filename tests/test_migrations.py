"""Databases of One API's earlier schemas open, migrate with every row kept and healthy indexes, and relay;
masters starting at once on an empty database take turns at migrating."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from peewee import Database, MySQLDatabase, PostgresqlDatabase, Table
from playhouse.migrate import SchemaMigrator

from oneapi.billing.journal import OBSOLETE_INDEXES
from oneapi.billing.journal import Reservation as JournalRow
from oneapi.config import load_settings
from oneapi.db.connect import open_database
from oneapi.db.migrate import index_names
from oneapi.db.models import MAIN_MODELS, POSTGRES_ONLY_INDEXES, Log
from tests.chaos import Node
from tests.conftest import Gateway, fresh_database, gateway_env
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, post

# The columns SPEC §1 lists as newer than the oldest One API databases (abilities.priority came with
# channels.priority). The old schema is today's without them: what One API's AutoMigrate left before they existed.
NEWER_COLUMNS = {
    "users": ("lark_id", "oidc_id"),
    "tokens": ("models", "subnet"),
    "channels": ("config", "system_prompt", "priority", "model_mapping"),
    "abilities": ("priority",),
    "logs": ("request_id", "elapsed_time", "is_stream", "system_prompt_reset"),
}
MODELS = (*MAIN_MODELS, Log)
ROOT_TOKEN = "f" * 32
TOKEN_KEY = "AbCdEfGhIjKlMnOpQ1b2C3d4E5f6A7b8C9d0E1f2A3b4C5d6"
ROOT_PASSWORD_HASH = "$2a$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"


def old_rows(upstream: str) -> dict[str, list[dict[str, Any]]]:
    """Rows of every table, holding only the columns the old schema has."""
    return {
        "users": [{"id": i, "username": name, "password": ROOT_PASSWORD_HASH, "display_name": name.title(),
                   "role": 100 if i == 1 else 1, "status": 1, "email": f"{name}@example.com", "github_id": "",
                   "wechat_id": "", "access_token": ROOT_TOKEN if i == 1 else f"{i:032x}", "quota": 10**9 * i,
                   "used_quota": i, "request_count": i, "group": "default", "aff_code": f"af{i:02d}",
                   "inviter_id": 0}
                  for i, name in enumerate(("root", "alice", "bob"), start=1)],
        "tokens": [{"id": i, "user_id": 1, "key": TOKEN_KEY if i == 1 else f"{i:048d}", "status": 1,
                    "name": f"legacy-{i}", "created_time": 1_600_000_000, "accessed_time": 1_600_000_000,
                    "expired_time": -1, "remain_quota": 0, "unlimited_quota": True, "used_quota": 0}
                   for i in (1, 2, 3)],
        "channels": [{"id": i, "type": 1, "key": "sk-upstream" if i == 1 else f"sk-other-{i}",
                      "status": 1 if i == 1 else 2, "name": f"legacy-{i}", "weight": 0,
                      "created_time": 1_600_000_000, "test_time": 0, "response_time": 0, "base_url": upstream,
                      "other": "", "balance": 0.0, "balance_updated_time": 0, "models": "gpt-3.5-turbo",
                      "group": "default", "used_quota": 0}
                     for i in (1, 2)],
        "abilities": [{"group": "default", "model": "gpt-3.5-turbo", "channel_id": i, "enabled": i == 1}
                      for i in (1, 2)],
        "options": [{"key": "ModelRatio", "value": '{"gpt-3.5-turbo": 1}'},
                    {"key": "SystemName", "value": "Legacy Gateway"}],
        "redemptions": [{"id": i, "user_id": 1, "key": f"{i:032d}", "status": 1, "name": f"code-{i}",
                         "quota": 100 * i, "created_time": 1_600_000_000, "redeemed_time": 0} for i in (1, 2)],
        "logs": [{"id": i, "user_id": 1, "created_at": 1_600_000_000 + i, "type": 1, "content": f"old {i}",
                  "username": "root", "token_name": "", "model_name": "", "quota": i, "prompt_tokens": 0,
                  "completion_tokens": 0, "channel_id": 0} for i in range(1, 6)],
    }


def _build_old_schema(db: Database, rows: dict[str, list[dict[str, Any]]]) -> None:
    with db.bind_ctx(MODELS):
        db.create_tables(MODELS)
    migrator = SchemaMigrator.from_database(db)
    for model in MODELS:
        table = model._meta.table_name
        for index in model._meta.fields_to_index():
            if _first_column(index) in NEWER_COLUMNS.get(table, ()):
                db.execute_sql(f"DROP INDEX {index._name}" + (f" ON {table}" if _backend(db) == "mysql" else ""))
    for table, columns in NEWER_COLUMNS.items():
        for column in columns:
            migrator.drop_column(table, column).run()
    for table, table_rows in rows.items():
        Table(table, tuple(table_rows[0])).bind(db).insert(table_rows).execute()
    if isinstance(db, PostgresqlDatabase):  # explicit ids leave the sequences behind, as a restored dump would not
        for table in ("users", "tokens", "channels", "redemptions", "logs"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


async def build_old_database(dsn: str, tmp_path, upstream: str) -> dict[str, list[dict[str, Any]]]:
    rows = old_rows(upstream)
    db = open_database(dsn, load_settings(gateway_env(tmp_path)), 2)
    try:
        await db.run(_build_old_schema, db, rows)
    finally:
        await db.close_pool()
    return rows


def _read_back(db: Database, rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for table, table_rows in rows.items():
        columns = tuple(table_rows[0])
        order = {"abilities": ("group", "model", "channel_id"), "options": ("key",)}.get(table, ("id",))
        t = Table(table, columns).bind(db)
        query = t.select(*(getattr(t, c) for c in columns)).order_by(*(getattr(t, c) for c in order))
        found[table] = list(query.dicts())
    return found


def _index_problems(db: Database) -> list[str]:
    """Every index the models declare exists, and a lookup through each finds what a table scan finds."""
    problems = []
    if _backend(db) == "sqlite":
        (result,) = db.execute_sql("PRAGMA integrity_check").fetchone()
        if result != "ok":
            problems.append(f"integrity_check: {result}")
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("SET enable_seqscan = off")
    for model in MODELS:
        table = model._meta.table_name
        present = index_names(db, table)
        for declared in model._meta.fields_to_index():
            name = declared._name
            if name in POSTGRES_ONLY_INDEXES and not isinstance(db, PostgresqlDatabase):
                continue
            if name not in present:
                problems.append(f"{name} missing")
                continue
            via_index, scan = {
                "sqlite": (f'INDEXED BY "{name}"', "NOT INDEXED"),
                "mysql": (f"FORCE INDEX (`{name}`)", f"IGNORE INDEX (`{name}`)"),
                "postgres": ("", ""),
            }[_backend(db)]
            column = ("`{}`" if _backend(db) == "mysql" else '"{}"').format(_first_column(declared))
            where = f"WHERE {column} IS NULL OR {column} IS NOT NULL"
            if _first_column(declared) in NEWER_COLUMNS.get(table, ()):
                where = f"WHERE {column} IS NULL"  # old rows hold NULL in the added columns
            counts = [db.execute_sql(f"SELECT COUNT(*) FROM {table} {hint} {where}").fetchone()[0]
                      for hint in (via_index, scan)]
            if counts[0] != counts[1]:
                problems.append(f"{name}: {counts[0]} rows through the index, {counts[1]} in the table")
    if _backend(db) == "postgres":
        db.execute_sql("RESET enable_seqscan")
    return problems


def _first_column(index: Any) -> str:
    return index._expressions[0].column_name


def _backend(db: Database) -> str:
    return "mysql" if isinstance(db, MySQLDatabase) else "postgres" if isinstance(db, PostgresqlDatabase) else "sqlite"


async def test_an_old_one_api_database_migrates_keeping_every_row(sql_dsn: str, tmp_path, make_gateway,
                                                                  fake_openai: FakeOpenAI):
    rows = await build_old_database(sql_dsn, tmp_path, fake_openai.url)
    gateway: Gateway = await make_gateway(SQL_DSN=sql_dsn, INITIAL_ROOT_ACCESS_TOKEN="")
    db = gateway.state.dbs.main
    assert await db.run(_read_back, db, rows) == rows, "every old row is kept as it was"
    assert await db.run(_index_problems, db) == []

    code, body = await post(gateway, f"Bearer sk-{TOKEN_KEY}", json=CHAT)
    assert code == 200 and body["choices"][0]["message"]["content"] == "Hello from fake", body
    await gateway.drain()
    logs = (await gateway.api("GET", "/api/log/?type=2", token=ROOT_TOKEN))["data"]
    assert logs[0]["quota"] == 11 + 7 * 3 and logs[0]["request_id"], "the stored ModelRatio applied; new columns"
    assert await db.run(_index_problems, db) == []
    await gateway.state.dbs.release()


@pytest.mark.parametrize("backend", ["mysql", "postgres"])
async def test_two_masters_migrate_an_empty_database_at_once(backend: str, tmp_path):
    dsn, drop = await fresh_database(backend)
    nodes = [Node(tmp_path / f"node{i}", {"SQL_DSN": dsn}) for i in (1, 2)]
    try:
        for node in nodes:
            node.cwd.mkdir()
        await asyncio.gather(*(node.start() for node in nodes))  # both processes spawned at once
        db = open_database(dsn, load_settings(gateway_env(tmp_path)), 2)
        try:
            assert await db.run(_index_problems, db) == []
            users = await db.run(lambda: db.execute_sql("SELECT COUNT(*) FROM users").fetchone()[0])
            assert users == 1, "one root user, however many masters started"
        finally:
            await db.close_pool()
    finally:
        await asyncio.gather(*(node.stop() for node in nodes))
        await drop()



def _logs_of_an_earlier_build(db: Database) -> None:
    """The logs table as builds before 2026-12-08 made it on every backend: with idx_logs_user_id_id."""
    with db.bind_ctx([Log]):
        db.create_tables([Log], safe=True)
    if "idx_logs_user_id_id" not in index_names(db, "logs"):
        db.execute_sql("CREATE INDEX idx_logs_user_id_id ON logs (user_id, id)")


async def test_the_second_user_id_index_is_kept_on_postgres_alone(sql_dsn: str, tmp_path, make_gateway):
    """idx_logs_user_id serves a user's pages in id order where secondary indexes end with the primary key
    (SQLite, MariaDB): there the copy an earlier build made is dropped; PostgreSQL keeps it (and a new database
    gets it); One API's own indexes stay everywhere."""
    db = open_database(sql_dsn, load_settings(gateway_env(tmp_path)), 2)
    try:
        await db.run(_logs_of_an_earlier_build, db)
    finally:
        await db.close_pool()
    gateway: Gateway = await make_gateway(SQL_DSN=sql_dsn)
    logs = gateway.state.dbs.logs
    names = await logs.run(index_names, logs, "logs")
    await gateway.state.dbs.release()
    assert {"idx_logs_user_id", "idx_created_at_type", "index_username_model_name"} <= names
    assert ("idx_logs_user_id_id" in names) == isinstance(logs, PostgresqlDatabase), names

def _journal_of_an_earlier_build(db: Database) -> None:
    """The reservation journal as builds before 2026-12-08 made it: with two indexes nothing reads now."""
    with db.bind_ctx([JournalRow]):
        db.create_tables([JournalRow])
    for name, columns in (("ledger_reservations_instance_state", "instance, state"),
                          ("ledger_reservations_state_created_at", "state, created_at")):
        db.execute_sql(f"CREATE INDEX {name} ON ledger_reservations ({columns})")


async def test_the_journal_indexes_an_earlier_build_made_are_dropped_and_billing_goes_on(
        sql_dsn: str, tmp_path, make_gateway, fake_openai: FakeOpenAI):
    db = open_database(sql_dsn, load_settings(gateway_env(tmp_path)), 2)
    try:
        await db.run(_journal_of_an_earlier_build, db)
        assert await db.run(index_names, db, "ledger_reservations") >= set(OBSOLETE_INDEXES["ledger_reservations"])
    finally:
        await db.close_pool()
    gateway: Gateway = await make_gateway(SQL_DSN=sql_dsn)
    main = gateway.state.dbs.main
    assert not await main.run(index_names, main, "ledger_reservations") & set(OBSOLETE_INDEXES["ledger_reservations"])
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=100_000)
    key = await gateway.add_token(user["access_token"])
    assert (await post(gateway, key, json=CHAT))[0] == 200
    await gateway.drain()
    [log] = (await gateway.api("GET", f"/api/log/?type=2&username={user['username']}"))["data"]
    assert log["quota"] > 0
    assert await gateway.state.ledger.reconcile() == 0, "the reconciliation reads the journal without them"
    await gateway.state.dbs.release()
