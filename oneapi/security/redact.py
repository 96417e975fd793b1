"""Secrets never leave: one redactor for every log record and every error message a client or admin sees.

It removes what looks like a credential (``Bearer ...``, ``sk-...``, ``Authorization:``/``Cookie:``
values, ``"password": "..."``, ``?key=`` in URLs) and every secret the gateway knows: channel keys and
each part of a composite key (Baidu, Xunfei, Tencent: ``a|b|c``), token keys and access tokens.
The redactor is process-wide because logging filters have no request to reach the app through; each app
registers its cache as a source of known secrets while it runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oneapi.cache import Cache

MASK = "[redacted]"
MIN_SECRET = 6  # shorter parts (a region, an app id like "1") would mask ordinary words
_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=|:-]+"), r"\1 " + MASK),
    (re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie)"
                r"(\"?'?\s*[:=]\s*\"?'?)[^\"'\s,;}]+"), r"\1\2" + MASK),
    (re.compile(r"(?i)(\"(?:password|access_token|api_key|secret|secret_key)\"\s*:\s*\")[^\"]*\""),
     r"\1" + MASK + '"'),
    (re.compile(r"(?i)([?&](?:key|api_key|access_token|token)=)[^&\s\"']+"), r"\1" + MASK),
    (re.compile(r"\bsession=[A-Za-z0-9._-]{20,}"), "session=" + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), "sk-" + MASK),
)
SecretSource = Callable[[], Iterable[str]]
_sources: list[SecretSource] = []


def add_source(source: SecretSource) -> None:
    _sources.append(source)


def remove_source(source: SecretSource) -> None:
    if source in _sources:
        _sources.remove(source)


def secret_parts(value: str | None) -> list[str]:
    """A stored key and, for composite keys and multi-key channels, each of its parts."""
    if not value:
        return []
    parts = [value, *re.split(r"[|\n]", value)]
    return [p.strip() for p in parts if len(p.strip()) >= MIN_SECRET]


def redact(text: str) -> str:
    """``text`` with every credential-looking value and every known secret replaced by ``[redacted]``."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    known = sorted({s for source in _sources for s in source() if s in text}, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    return text


# Database drivers log statements with their parameters (a new channel's key before any cache knows it).
SQL_LOGGERS = ("peewee", "aiosqlite", "aiomysql", "asyncpg")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")


def _sql_message(record: logging.LogRecord) -> str:
    """A statement log line without its parameter values."""
    if isinstance(record.msg, tuple) and len(record.msg) == 2:  # peewee: (sql, params)
        sql, params = record.msg
        return f"{sql} -- {len(params or ())} parameters"
    return _QUOTED.sub("'?'", record.getMessage())


class RedactingFilter(logging.Filter):
    """Attached to every log handler: the formatted message is redacted, arguments and all."""

    def filter(self, record: logging.LogRecord) -> bool:
        sql = record.name.split(".")[0] in SQL_LOGGERS
        message = _sql_message(record) if sql else record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if sql or cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


FILTER = RedactingFilter()


def install_on_handlers(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of ``logger`` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)


def cache_secrets(cache: Cache) -> SecretSource:
    """The secrets an app's cache holds: channel keys (and their parts), token keys, access tokens."""

    def source() -> Iterable[str]:
        for channel in list(cache.channels.values()):
            yield from secret_parts(channel.key)
        for key in list(cache.tokens):
            if len(key) >= MIN_SECRET:
                yield key
        for user in list(cache.users.values()):
            if user.access_token and len(user.access_token) >= MIN_SECRET:
                yield user.access_token

    return source
