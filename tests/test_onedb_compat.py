"""A database written by One API opens unchanged: its root logs in, its token relays, old columns get added."""

from __future__ import annotations

import sqlite3
import time

import bcrypt

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI
from tests.test_relay_errors import CHAT, post

# The DDL GORM's AutoMigrate wrote for One API v0.5 on SQLite (before channels.config/system_prompt,
# tokens.models/subnet, logs.request_id/elapsed_time/is_stream/system_prompt_reset, users.lark_id/oidc_id).
ONE_API_V05_SQLITE = """
CREATE TABLE `users` (`id` integer,`username` text UNIQUE,`password` text NOT NULL,`display_name` text,
  `role` integer DEFAULT 1,`status` integer DEFAULT 1,`email` text,`github_id` text,`wechat_id` text,
  `access_token` char(32),`quota` integer DEFAULT 0,`used_quota` integer DEFAULT 0,
  `request_count` integer DEFAULT 0,`group` varchar(32) DEFAULT 'default',`aff_code` varchar(32),
  `inviter_id` integer,PRIMARY KEY (`id`));
CREATE INDEX `idx_users_inviter_id` ON `users`(`inviter_id`);
CREATE UNIQUE INDEX `idx_users_aff_code` ON `users`(`aff_code`);
CREATE UNIQUE INDEX `idx_users_access_token` ON `users`(`access_token`);
CREATE INDEX `idx_users_wechat_id` ON `users`(`wechat_id`);
CREATE INDEX `idx_users_github_id` ON `users`(`github_id`);
CREATE INDEX `idx_users_email` ON `users`(`email`);
CREATE INDEX `idx_users_display_name` ON `users`(`display_name`);
CREATE INDEX `idx_users_username` ON `users`(`username`);
CREATE TABLE `options` (`key` text,`value` text,PRIMARY KEY (`key`));
CREATE TABLE `tokens` (`id` integer,`user_id` integer,`key` char(48),`status` integer DEFAULT 1,`name` text,
  `created_time` integer,`accessed_time` integer,`expired_time` integer DEFAULT -1,
  `remain_quota` integer DEFAULT 0,`unlimited_quota` numeric DEFAULT false,`used_quota` integer DEFAULT 0,
  PRIMARY KEY (`id`));
CREATE INDEX `idx_tokens_name` ON `tokens`(`name`);
CREATE UNIQUE INDEX `idx_tokens_key` ON `tokens`(`key`);
CREATE TABLE `channels` (`id` integer,`type` integer DEFAULT 0,`key` text,`status` integer DEFAULT 1,
  `name` text,`weight` integer DEFAULT 0,`created_time` integer,`test_time` integer,`response_time` integer,
  `base_url` text DEFAULT '',`other` text,`balance` real,`balance_updated_time` integer,`models` text,
  `group` varchar(32) DEFAULT 'default',`used_quota` integer DEFAULT 0,`model_mapping` varchar(1024) DEFAULT '',
  `priority` integer DEFAULT 0,PRIMARY KEY (`id`));
CREATE INDEX `idx_channels_name` ON `channels`(`name`);
CREATE TABLE `abilities` (`group` varchar(32),`model` text,`channel_id` integer,`enabled` numeric,
  `priority` integer DEFAULT 0,PRIMARY KEY (`group`,`model`,`channel_id`));
CREATE INDEX `idx_abilities_priority` ON `abilities`(`priority`);
CREATE INDEX `idx_abilities_channel_id` ON `abilities`(`channel_id`);
CREATE TABLE `redemptions` (`id` integer,`user_id` integer,`key` char(32),`status` integer DEFAULT 1,
  `name` text,`quota` integer DEFAULT 100,`created_time` integer,`redeemed_time` integer,PRIMARY KEY (`id`));
CREATE INDEX `idx_redemptions_name` ON `redemptions`(`name`);
CREATE UNIQUE INDEX `idx_redemptions_key` ON `redemptions`(`key`);
CREATE TABLE `logs` (`id` integer,`user_id` integer,`created_at` integer,`type` integer,`content` text,
  `username` text DEFAULT '',`token_name` text DEFAULT '',`model_name` text DEFAULT '',`quota` integer DEFAULT 0,
  `prompt_tokens` integer DEFAULT 0,`completion_tokens` integer DEFAULT 0,`channel_id` integer,PRIMARY KEY (`id`));
CREATE INDEX `idx_logs_channel_id` ON `logs`(`channel_id`);
CREATE INDEX `idx_logs_model_name` ON `logs`(`model_name`);
CREATE INDEX `idx_logs_token_name` ON `logs`(`token_name`);
CREATE INDEX `index_username_model_name` ON `logs`(`model_name`,`username`);
CREATE INDEX `idx_created_at_type` ON `logs`(`created_at`,`type`);
CREATE INDEX `idx_logs_user_id` ON `logs`(`user_id`);
"""

TOKEN_KEY = "AbCdEfGhIjKlMnOpQ1b2C3d4E5f6A7b8C9d0E1f2A3b4C5d6"


def one_api_database(path: str, upstream: str) -> None:
    hashed = bcrypt.hashpw(b"old-root-pass", bcrypt.gensalt(rounds=10)).decode().replace("$2b$", "$2a$", 1)
    now = int(time.time())
    db = sqlite3.connect(path)
    db.executescript(ONE_API_V05_SQLITE)
    db.execute("INSERT INTO users (id, username, password, display_name, role, status, access_token, quota, "
               "used_quota, request_count, `group`, aff_code) VALUES (1, 'root', ?, 'Root User', 100, 1, ?, "
               "500000000, 0, 0, 'default', 'x1y2')", (hashed, "f" * 32))
    db.execute("INSERT INTO tokens (id, user_id, `key`, status, name, created_time, accessed_time, expired_time, "
               "remain_quota, unlimited_quota, used_quota) VALUES (1, 1, ?, 1, 'legacy', ?, ?, -1, 0, 1, 0)",
               (TOKEN_KEY, now, now))
    db.execute("INSERT INTO channels (id, type, `key`, status, name, weight, created_time, base_url, other, "
               "balance, models, `group`, used_quota, model_mapping, priority) VALUES "
               "(1, 1, 'sk-upstream', 1, 'legacy-openai', NULL, ?, ?, NULL, 0, 'gpt-3.5-turbo', 'default', 0, NULL, "
               "NULL)", (now, upstream))
    db.execute("INSERT INTO abilities VALUES ('default', 'gpt-3.5-turbo', 1, 1, 0)")
    db.execute("INSERT INTO options VALUES ('SystemName', 'Legacy Gateway')")
    db.execute("INSERT INTO options VALUES ('ModelRatio', '{\"gpt-3.5-turbo\": 1}')")
    db.execute("INSERT INTO logs (user_id, created_at, type, content, username, quota, channel_id) VALUES "
               "(1, ?, 1, 'old top-up', 'root', 100, 0)", (now - 3600,))
    db.commit()
    db.close()


async def test_one_api_database_opens_unchanged(tmp_path, make_gateway, fake_openai: FakeOpenAI):
    path = str(tmp_path / "one-api.db")
    one_api_database(path, fake_openai.url)
    gateway: Gateway = await make_gateway(SQLITE_PATH=path, INITIAL_ROOT_ACCESS_TOKEN="")

    async with gateway.http.post(gateway.url + "/api/user/login",
                                 json={"username": "root", "password": "old-root-pass"}) as resp:
        assert (await resp.json())["success"]
    status = await gateway.api("GET", "/api/status", token="")
    assert status["data"]["system_name"] == "Legacy Gateway"

    code, body = await post(gateway, f"Bearer sk-{TOKEN_KEY}", json=CHAT)
    assert code == 200 and body["choices"][0]["message"]["content"] == "Hello from fake"
    await gateway.drain()
    logs = (await gateway.api("GET", "/api/log/?type=2", token="f" * 32))["data"]
    assert logs[0]["quota"] == (11 + 7 * 3) * 1, "the stored ModelRatio (1) was used"

    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(channels)")}
    assert {"config", "system_prompt"} <= columns, "missing columns were added"
    log_columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(logs)")}
    assert {"request_id", "elapsed_time", "is_stream", "system_prompt_reset"} <= log_columns
    old = sqlite3.connect(path).execute("SELECT content FROM logs WHERE type = 1").fetchone()
    assert old == ("old top-up",), "existing rows are untouched"
