"""The ``options`` table as a typed in-memory store: One API's defaults overlaid by the stored rows.

Reads are plain attribute lookups (the relay reads them on every request); writes go to the database
first and then to memory, so a failed write changes nothing.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from typing import Any

import orjson

from oneapi.billing.defaults import DEFAULT_COMPLETION_RATIO, DEFAULT_GROUP_RATIO, DEFAULT_MODEL_RATIO
from oneapi.db.connect import Databases
from oneapi.db.models import TEXT_BYTES, Option, fits_text

logger = logging.getLogger(__name__)

JSON_OPTIONS = ("ModelRatio", "CompletionRatio", "GroupRatio")
MAX_RATIO = 1_000_000  # far above any real price (the dearest default is 4750), far below an int64 overflow


def default_options(theme: str = "default") -> dict[str, str]:
    """Every option key One API seeds, with its default, as the strings the table stores."""
    return {
        "PasswordLoginEnabled": "true",
        "PasswordRegisterEnabled": "true",
        "EmailVerificationEnabled": "false",
        "GitHubOAuthEnabled": "false",
        "OidcEnabled": "false",
        "WeChatAuthEnabled": "false",
        "TurnstileCheckEnabled": "false",
        "RegisterEnabled": "true",
        "EmailDomainRestrictionEnabled": "false",
        "EmailDomainWhitelist": (
            "gmail.com,163.com,126.com,qq.com,outlook.com,hotmail.com,icloud.com,yahoo.com,foxmail.com"
        ),
        "AutomaticDisableChannelEnabled": "false",
        "AutomaticEnableChannelEnabled": "false",
        "ChannelDisableThreshold": "5",
        "ApproximateTokenEnabled": "false",
        "LogConsumeEnabled": "true",
        "DisplayInCurrencyEnabled": "true",
        "DisplayTokenStatEnabled": "true",
        "SMTPServer": "",
        "SMTPPort": "587",
        "SMTPAccount": "",
        "SMTPFrom": "",
        "SMTPToken": "",
        "Notice": "",
        "About": "",
        "HomePageContent": "",
        "Footer": "",
        "SystemName": "One API",
        "Logo": "",
        "ServerAddress": "",
        "GitHubClientId": "",
        "GitHubClientSecret": "",
        "WeChatServerAddress": "",
        "WeChatServerToken": "",
        "WeChatAccountQRCodeImageURL": "",
        "MessagePusherAddress": "",
        "MessagePusherToken": "",
        "TurnstileSiteKey": "",
        "TurnstileSecretKey": "",
        "QuotaForNewUser": "0",
        "QuotaForInviter": "0",
        "QuotaForInvitee": "0",
        "QuotaRemindThreshold": "1000",
        "PreConsumedQuota": "500",
        "ModelRatio": orjson.dumps(DEFAULT_MODEL_RATIO).decode(),
        "CompletionRatio": orjson.dumps(DEFAULT_COMPLETION_RATIO).decode(),
        "GroupRatio": orjson.dumps(DEFAULT_GROUP_RATIO).decode(),
        "TopUpLink": "",
        "ChatLink": "",
        "QuotaPerUnit": "500000",
        "RetryTimes": "0",
        "Theme": theme,
    }


class Options:
    """Option values by key, with typed accessors for the ones the code reads."""

    def __init__(self, theme: str = "default") -> None:
        self._values: dict[str, str] = default_options(theme)
        self._json: dict[str, dict[str, Any]] = {}
        for key in JSON_OPTIONS:
            self._json[key] = orjson.loads(self._values[key])
        # Called with the key after every stored change, so that other nodes can be told (oneapi/sync.py).
        self.on_change: Callable[[str], None] | None = None

    # -- reading ---------------------------------------------------------------------------------
    def get(self, key: str, default: str = "") -> str:
        return self._values.get(key, default)

    def items(self) -> dict[str, str]:
        return dict(self._values)

    def bool(self, key: str) -> bool:
        return self._values.get(key, "false") == "true"

    def int(self, key: str, default: int = 0) -> int:
        try:
            return int(float(self._values.get(key, "")))
        except ValueError:
            return default

    def float(self, key: str, default: float = 0.0) -> float:
        try:
            return float(self._values.get(key, ""))
        except ValueError:
            return default

    def json(self, key: str) -> dict[str, Any]:
        """The parsed value of ModelRatio, CompletionRatio or GroupRatio."""
        return self._json[key]

    @property
    def server_address(self) -> str:
        """ServerAddress without a trailing slash, or One API's internal default; for links in mail and redirects."""
        return (self.get("ServerAddress") or "http://localhost:3000").rstrip("/")

    @property
    def quota_per_unit(self) -> builtins.float:  # `float` here is the method above
        return self.float("QuotaPerUnit", 500000.0) or 500000.0

    # -- writing ---------------------------------------------------------------------------------
    @staticmethod
    def validate(key: str, value: str) -> str | None:
        """The refusal message for a value that cannot be stored, or None."""
        if len(key) > Option.key.max_length:  # MySQL's INSERT IGNORE would store it cut, PostgreSQL refuse it
            return f"无效的参数：key 最多 {Option.key.max_length} 个字符"
        if not fits_text(value):
            return f"无效的参数：{key} 最多 {TEXT_BYTES} 字节"
        if key in JSON_OPTIONS:
            try:
                parsed = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                return f"{key} is not valid JSON: {exc}"
            if not isinstance(parsed, dict) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in parsed.values()
            ):
                return f"{key} must be a JSON object of numbers"
            for name, ratio in parsed.items():
                # A negative ratio would pay the caller and a huge one overflows; One API's own defaults
                # hold one negative marker (openrouter/auto), which stays accepted as it is.
                shipped = key == "ModelRatio" and DEFAULT_MODEL_RATIO.get(name) == ratio
                if not (0 <= ratio <= MAX_RATIO or shipped):
                    return f"{key}: {name} must be between 0 and {MAX_RATIO}"
        if key == "Theme" and value not in ("default", "berry", "air"):
            return "无效的主题"
        return None

    def apply(self, key: str, value: str) -> None:
        """Set a value in memory only (after it was stored, or when loading rows)."""
        if key in JSON_OPTIONS:
            parsed = orjson.loads(value)
            if key == "ModelRatio":
                # One API merges models added to the defaults since the row was written.
                parsed = {**DEFAULT_MODEL_RATIO, **parsed}
            self._json[key] = parsed
        self._values[key] = value

    async def load(self, dbs: Databases) -> None:
        rows = await dbs.main.list(Option.select())
        for row in rows:
            try:
                self.apply(row.key, row.value or "")
            except orjson.JSONDecodeError:
                logger.error("option %s holds invalid JSON; keeping the default", row.key)

    async def save(self, dbs: Databases, key: str, value: str) -> None:
        """Upsert one row, then apply it. Raises ValueError with the refusal message."""
        problem = self.validate(key, value)
        if problem:
            raise ValueError(problem)
        async with dbs.write_transaction():
            updated = await dbs.main.aexecute(Option.update(value=value).where(Option.key == key))
            if not updated:  # MySQL counts a row rewritten with its own value as not updated: it exists
                await dbs.main.aexecute(Option.insert(key=key, value=value).on_conflict_ignore())
        self.apply(key, value)
        if self.on_change is not None:
            self.on_change(key)
