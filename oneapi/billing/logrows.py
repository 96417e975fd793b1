"""One API's ``logs`` rows as the ledger writes them: the columns, a multi-row INSERT, and an existence check."""

from __future__ import annotations

import time
from typing import Any

from oneapi.billing.store import Execute
from oneapi.constants import LogType
from oneapi.db.models import Log

_ROWS_PER_INSERT = 100
LOG_COLUMNS: tuple[str, ...] = tuple(f.column_name for f in Log._meta.sorted_fields if f.name != "id")
_LOG_DEFAULTS: dict[str, Any] = {f.column_name: f.default for f in Log._meta.sorted_fields if f.name != "id"}


def log_exists(execute: Execute, param: str, row: dict[str, Any]) -> bool:
    columns = [column for column in LOG_COLUMNS if row.get(column) is not None]
    where = " AND ".join(f"{column} = {param}" for column in columns)
    return bool(execute(f"SELECT 1 FROM logs WHERE {where} LIMIT 1", tuple(row[c] for c in columns)).fetchall())


def insert_logs(execute: Execute, param: str, rows: list[dict[str, Any]], table: str = "logs",
                extra: tuple[str, ...] = ()) -> None:
    """Insert log rows into ``table`` (``logs``, or the outbox with its ``extra`` columns)."""
    names = (*extra, *LOG_COLUMNS)
    columns = ", ".join(names)
    placeholders = "(" + ", ".join([param] * len(names)) + ")"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        params = tuple(row[column] if column in extra else row.get(column, _LOG_DEFAULTS[column])
                       for row in chunk for column in names)
        execute(f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(chunk))}", params)


def consume_log(**fields: Any) -> dict[str, Any]:
    """A consume-log row with One API's columns; unspecified columns take their defaults."""
    row = {"type": int(LogType.CONSUME), "created_at": int(time.time())}
    row.update(fields)
    return row
