"""Every environment variable One API reads, parsed once at start into one typed, immutable object.

A bad value stops start-up with a one-line ``ConfigError`` that names the variable, never a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from oneapi.security.networks import parse_networks


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def _int(name: str, raw: str, minimum: int | None = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """One API's environment variables (SPEC §8.2) with One API's defaults."""

    port: int = 3000
    log_dir: str = "./logs"
    debug: bool = False
    debug_sql: bool = False
    gin_mode: str = "release"
    sql_dsn: str = ""
    log_sql_dsn: str = ""
    sqlite_path: str = "one-api.db"
    sqlite_busy_timeout: int = 3000
    sql_max_idle_conns: int = 100
    sql_max_open_conns: int = 1000
    sql_max_lifetime: int = 60
    redis_conn_string: str = ""
    redis_master_name: str = ""
    redis_password: str = ""
    session_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    memory_cache_enabled: bool = False
    sync_frequency: int = 600
    sync_frequency_set: bool = False
    node_type: str = "master"
    frontend_base_url: str = ""
    channel_test_frequency: int = 0
    channel_update_frequency: int = 0
    polling_interval: int = 0
    batch_update_enabled: bool = False
    batch_update_interval: int = 5
    global_api_rate_limit: int = 480
    global_web_rate_limit: int = 240
    relay_timeout: int = 0
    response_store_days: int = 30  # ours: how long /v1/responses answers stay retrievable
    relay_proxy: str = ""
    user_content_request_proxy: str = ""
    user_content_request_timeout: int = 30
    gemini_safety_setting: str = "BLOCK_NONE"
    gemini_version: str = "v1"
    theme: str = "default"
    enable_metric: bool = False
    metric_queue_size: int = 10
    metric_success_rate_threshold: float = 0.8
    metric_success_chan_size: int = 1024
    metric_fail_chan_size: int = 128
    initial_root_token: str = ""
    initial_root_access_token: str = ""
    only_one_log_file: bool = False
    enforce_include_usage: bool = False
    test_prompt: str = "Output only your specific model name with no additional text."
    tz: str = ""
    # Ours, not One API's: the largest request body accepted on /v1 and /api, in MiB.
    max_body_mb: int = 64
    # Ours: where the sign-in providers and Turnstile are reached (a test double or a mirror can stand in),
    # and an extra CA bundle trusted for the SMTP server's certificate.
    github_base_url: str = "https://github.com"
    github_api_base_url: str = "https://api.github.com"
    lark_base_url: str = "https://passport.feishu.cn"
    turnstile_verify_url: str = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
    smtp_ca_file: str = ""
    # Ours too (SECURITY.md): whose X-Forwarded-For counts, private fetch targets, session lifetime (s).
    trusted_proxies: str = "127.0.0.0/8,::1/128"
    fetch_allow_private: bool = False
    session_max_age: int = 30 * 24 * 3600
    # Ours: processes serving the port (--workers wins over WORKERS).
    workers: int = 1
    # Ours: logs older than this many days are deleted, in small batches, every hour (0 keeps them all).
    log_retention_days: int = 0

    @property
    def is_master(self) -> bool:
        return self.node_type != "slave"

    @property
    def redis_enabled(self) -> bool:
        """One API enables Redis only when SYNC_FREQUENCY is set too; we keep that rule."""
        return bool(self.redis_conn_string) and self.sync_frequency_set

    @property
    def rate_limit_enabled(self) -> bool:
        return not self.debug

    def database_location(self) -> str:
        """Where the main data lives, for the start-up log line (no password)."""
        if not self.sql_dsn:
            return f"sqlite:{Path(self.sqlite_path).resolve()}"
        dsn = self.sql_dsn
        if "@" in dsn:
            dsn = dsn[dsn.rfind("@") + 1 :]
        return dsn


_BOOL = {
    "DEBUG",
    "DEBUG_SQL",
    "MEMORY_CACHE_ENABLED",
    "BATCH_UPDATE_ENABLED",
    "ENABLE_METRIC",
    "ONLY_ONE_LOG_FILE",
    "ENFORCE_INCLUDE_USAGE",
    "FETCH_ALLOW_PRIVATE",
}
_INT = {
    "PORT": 1,
    "SQLITE_BUSY_TIMEOUT": 0,
    "SQL_MAX_IDLE_CONNS": 0,
    "SQL_MAX_OPEN_CONNS": 1,
    "SQL_MAX_LIFETIME": 0,
    "SYNC_FREQUENCY": 1,
    "CHANNEL_TEST_FREQUENCY": 0,
    "CHANNEL_UPDATE_FREQUENCY": 0,
    "POLLING_INTERVAL": 0,
    "BATCH_UPDATE_INTERVAL": 1,
    "GLOBAL_API_RATE_LIMIT": 0,
    "GLOBAL_WEB_RATE_LIMIT": 0,
    "RELAY_TIMEOUT": 0,
    "RESPONSE_STORE_DAYS": 1,
    "USER_CONTENT_REQUEST_TIMEOUT": 1,
    "METRIC_QUEUE_SIZE": 1,
    "METRIC_SUCCESS_CHAN_SIZE": 1,
    "METRIC_FAIL_CHAN_SIZE": 1,
    "ONEAPI_MAX_BODY_MB": 1,
    "SESSION_MAX_AGE": 60,
    "WORKERS": 1,
    "ONEAPI_LOG_RETENTION_DAYS": 0,
}
_FLOAT = {"METRIC_SUCCESS_RATE_THRESHOLD"}
MAX_WORKERS = 64
_RENAMED = {"ONEAPI_MAX_BODY_MB": "max_body_mb", "ONEAPI_LOG_RETENTION_DAYS": "log_retention_days"}


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ``); keyword overrides win (CLI flags)."""
    env = os.environ if env is None else env
    names = {f.name for f in fields(Settings)}
    values: dict[str, object] = {}
    for var, raw in env.items():
        attr = _RENAMED.get(var, var.lower())
        if attr not in names or attr == "sync_frequency_set":
            continue
        if raw == "" and var not in ("SQL_DSN", "LOG_SQL_DSN", "REDIS_CONN_STRING"):
            continue
        if var in _BOOL:
            values[attr] = _bool(var, raw)
        elif var in _INT:
            values[attr] = _int(var, raw, _INT[var])
        elif var in _FLOAT:
            values[attr] = _float(var, raw)
        else:
            values[attr] = raw
    if "SYNC_FREQUENCY" in env and env["SYNC_FREQUENCY"] != "":
        values["sync_frequency_set"] = True
    secret = values.get("session_secret")
    if secret == "random_string" or secret == "":
        values.pop("session_secret")
    if values.get("gin_mode") != "debug":
        values["gin_mode"] = "release"
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not 1 <= s.port <= 65535:
        raise ConfigError(f"PORT={s.port} is not a TCP port (1-65535)")
    if not 1 <= s.workers <= MAX_WORKERS:
        raise ConfigError(f"WORKERS={s.workers} must be within 1..{MAX_WORKERS}")
    if s.node_type not in ("master", "slave"):
        raise ConfigError(f"NODE_TYPE={s.node_type!r} must be master or slave")
    if not 0.0 <= s.metric_success_rate_threshold <= 1.0:
        raise ConfigError(f"METRIC_SUCCESS_RATE_THRESHOLD={s.metric_success_rate_threshold} must be within 0..1")
    try:
        parse_networks(s.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_PROXIES: {exc}") from None
    # Parse the DSNs now so that a typo stops start-up instead of the first request.
    from oneapi.db.dsn import parse_dsn

    for var, dsn in (("SQL_DSN", s.sql_dsn), ("LOG_SQL_DSN", s.log_sql_dsn)):
        if dsn:
            try:
                parse_dsn(dsn)
            except ValueError as exc:
                raise ConfigError(f"{var} is malformed: {exc}") from None
    if s.redis_conn_string and not s.redis_master_name and not s.redis_conn_string.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError("REDIS_CONN_STRING must be a redis:// or rediss:// URL")
