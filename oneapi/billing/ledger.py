"""The ledger: the one place where quota moves, and the only writer of usage and log rows.

Every debit is one conditional UPDATE (``… WHERE quota >= amount``), so concurrent requests can never
reserve more than the balance, on any backend, without a read first. Writes go through one writer task
that takes whatever is queued and runs it as one transaction (``billing/store.py``): reservations are
awaited by the request (it must know the answer), settlements and logs are not (the response never
waits for them). In batch mode (BATCH_UPDATE_ENABLED) settlements are summed per row and written every
BATCH_UPDATE_INTERVAL seconds; otherwise they are summed over whatever is queued. ``stop()`` writes
everything still queued, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from oneapi.billing.store import Execute, Operation, OperationFailed, open_store
from oneapi.cache import Cache
from oneapi.constants import LogType
from oneapi.db.connect import Databases
from oneapi.db.models import Log

logger = logging.getLogger(__name__)

_MAX_BATCH = 512
_LOG_ROWS_PER_INSERT = 100
LOG_COLUMNS: tuple[str, ...] = tuple(f.column_name for f in Log._meta.sorted_fields if f.name != "id")
_LOG_DEFAULTS: dict[str, Any] = {f.column_name: f.default for f in Log._meta.sorted_fields if f.name != "id"}


class InsufficientQuota(OperationFailed):
    """A reservation the balance cannot cover; ``who`` is "user" or "token"."""

    def __init__(self, who: str) -> None:
        super().__init__(who)
        self.who = who


@dataclass(slots=True)
class Charge:
    """The outcome of one billed request, settled against its reservation."""

    user_id: int
    token_id: int
    token_limited: bool
    channel_id: int
    reserved: int
    quota: int
    log: dict[str, Any] | None  # the consume log row, or None when LogConsumeEnabled is off


@dataclass
class _Totals:
    """Settlements summed per row, waiting to be written."""

    user_quota: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_requests: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    token_remain: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    token_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    channel_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    logs: list[dict[str, Any]] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.user_quota or self.user_used or self.user_requests or self.token_remain
                    or self.token_used or self.channel_used or self.logs)

    def absorb(self, other: _Totals) -> None:
        for name in ("user_quota", "user_used", "user_requests", "token_remain", "token_used", "channel_used"):
            mine = getattr(self, name)
            for key, value in getattr(other, name).items():
                mine[key] += value
        self.logs.extend(other.logs)


class Ledger:
    def __init__(self, dbs: Databases, cache: Cache, batch_interval: float | None = None,
                 busy_timeout_ms: int = 3000) -> None:
        self.dbs = dbs
        self.cache = cache
        self.batch_interval = batch_interval  # None: write settlements as soon as the writer is free
        self._main = open_store(dbs, dbs.main, busy_timeout_ms)
        self._logs = self._main if dbs.logs is dbs.main else open_store(dbs, dbs.logs, busy_timeout_ms)
        self._queue: asyncio.Queue[tuple[Operation | _Totals, asyncio.Future[Any] | None]] = asyncio.Queue()
        self._pending = _Totals()
        self._writer: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._sql = _statements(self._main.param)
        self._log_param = self._logs.param

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="ledger-writer")
        if self.batch_interval:
            self._flusher = asyncio.create_task(self._flush_loop(), name="ledger-batch")

    async def stop(self) -> None:
        """Write everything queued and pending, then stop the writer."""
        if self._flusher:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.drain()
        if self._writer:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self._main.close()
        if self._logs is not self._main:
            await self._logs.close()

    async def drain(self) -> None:
        """Wait until every settlement and log queued so far is in the database."""
        self._enqueue_pending()
        await self._queue.join()

    # -- the request side ------------------------------------------------------------------------
    async def reserve(self, user_id: int, token_id: int, token_limited: bool, amount: int) -> None:
        """Take ``amount`` from the user and (if limited) the token, or raise InsufficientQuota."""
        if amount <= 0:
            user = self.cache.user(user_id)
            if user is not None and user.quota < 0:
                raise InsufficientQuota("user")
            return
        sql, now = self._sql, int(time.time())

        def debit(execute: Execute) -> None:
            if execute(sql["debit_user"], (amount, user_id, amount)) != 1:
                raise InsufficientQuota("user")
            if token_limited and execute(sql["debit_token"], (amount, amount, now, token_id, amount)) != 1:
                execute(sql["credit_user"], (amount, user_id))
                raise InsufficientQuota("token")

        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((debit, future))
        await future
        user = self.cache.user(user_id)
        if user is not None:
            user.quota -= amount
        token = self.cache.token_by_id(token_id)
        if token is not None and token_limited:
            token.remain_quota -= amount
            token.used_quota += amount

    def refund(self, user_id: int, token_id: int, token_limited: bool, amount: int) -> None:
        """Give a reservation back (the request failed); written without delaying anyone."""
        if amount > 0:
            self.settle(Charge(user_id, token_id, token_limited, 0, amount, 0, None), count_request=False)

    def settle(self, charge: Charge, count_request: bool = True) -> None:
        """Replace the reservation by the real charge, add usage counters and the log row."""
        delta = charge.quota - charge.reserved
        user = self.cache.user(charge.user_id)
        if user is not None:
            user.quota -= delta
            user.used_quota += charge.quota
            user.request_count += 1 if count_request else 0
        token = self.cache.token_by_id(charge.token_id)
        if token is not None:
            if charge.token_limited:
                token.remain_quota -= delta
            token.used_quota += delta if charge.token_limited else charge.quota
        channel = self.cache.channel(charge.channel_id)
        if channel is not None:
            channel.used_quota += charge.quota

        pending = self._pending
        pending.user_quota[charge.user_id] += delta
        pending.user_used[charge.user_id] += charge.quota
        if count_request:
            pending.user_requests[charge.user_id] += 1
        if charge.token_id:
            if charge.token_limited:
                pending.token_remain[charge.token_id] += delta
                pending.token_used[charge.token_id] += delta
            else:
                pending.token_used[charge.token_id] += charge.quota
        if charge.channel_id and charge.quota:
            pending.channel_used[charge.channel_id] += charge.quota
        if charge.log is not None:
            pending.logs.append(charge.log)
        if not self.batch_interval:
            self._enqueue_pending()

    def log(self, row: dict[str, Any]) -> None:
        """Queue a log row that moves no quota (top-up, manage, system and test logs)."""
        self._pending.logs.append(row)
        if not self.batch_interval:
            self._enqueue_pending()

    # -- the writer ------------------------------------------------------------------------------
    def _enqueue_pending(self) -> None:
        if not self._pending.empty():
            totals, self._pending = self._pending, _Totals()
            self._queue.put_nowait((totals, None))

    async def _flush_loop(self) -> None:
        assert self.batch_interval
        while True:
            await asyncio.sleep(self.batch_interval)
            self._enqueue_pending()

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                logger.exception("the ledger could not write a batch of %d operations", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[tuple[Operation | _Totals, asyncio.Future[Any] | None]]) -> None:
        """One transaction for the whole batch; settlements are merged into one set of UPDATEs."""
        operations: list[Operation] = []
        futures: list[asyncio.Future[Any] | None] = []
        totals = _Totals()
        for operation, future in batch:
            if isinstance(operation, _Totals):
                totals.absorb(operation)
            else:
                operations.append(operation)
                futures.append(future)
        logs, totals.logs = totals.logs, []
        if not totals.empty():
            operations.append(lambda execute: _write_totals(execute, self._sql, totals))
            futures.append(None)
        if logs and self._logs is self._main:
            operations.append(lambda execute: _insert_logs(execute, self._log_param, logs))
            futures.append(None)
        try:
            results = await self._main.run(operations) if operations else []
        except Exception as exc:
            for future in futures:
                if future is not None and not future.done():
                    future.set_exception(RuntimeError(f"the quota could not be written: {exc}"))
            raise
        if logs and self._logs is not self._main:
            await self._logs.run([lambda execute: _insert_logs(execute, self._log_param, logs)])
        for future, (value, error) in zip(futures, results, strict=True):
            if future is None or future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)


def _statements(p: str) -> dict[str, str]:
    return {
        "debit_user": f"UPDATE users SET quota = quota - {p} WHERE id = {p} AND quota >= {p}",
        "credit_user": f"UPDATE users SET quota = quota + {p} WHERE id = {p}",
        "debit_token": (
            f"UPDATE tokens SET remain_quota = remain_quota - {p}, used_quota = used_quota + {p}, "
            f"accessed_time = {p} WHERE id = {p} AND remain_quota >= {p}"
        ),
        "settle_user": (
            f"UPDATE users SET quota = quota - {p}, used_quota = used_quota + {p}, "
            f"request_count = request_count + {p} WHERE id = {p}"
        ),
        "settle_token": (
            f"UPDATE tokens SET remain_quota = remain_quota - {p}, used_quota = used_quota + {p}, "
            f"accessed_time = {p} WHERE id = {p}"
        ),
        "settle_channel": f"UPDATE channels SET used_quota = used_quota + {p} WHERE id = {p}",
    }


def _write_totals(execute: Execute, sql: dict[str, str], totals: _Totals) -> None:
    now = int(time.time())
    for user_id in totals.user_quota.keys() | totals.user_used.keys() | totals.user_requests.keys():
        execute(sql["settle_user"], (totals.user_quota.get(user_id, 0), totals.user_used.get(user_id, 0),
                                     totals.user_requests.get(user_id, 0), user_id))
    for token_id in totals.token_remain.keys() | totals.token_used.keys():
        execute(sql["settle_token"], (totals.token_remain.get(token_id, 0), totals.token_used.get(token_id, 0),
                                      now, token_id))
    for channel_id, used in totals.channel_used.items():
        execute(sql["settle_channel"], (used, channel_id))


def _insert_logs(execute: Execute, param: str, rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(LOG_COLUMNS)
    placeholders = "(" + ", ".join([param] * len(LOG_COLUMNS)) + ")"
    for start in range(0, len(rows), _LOG_ROWS_PER_INSERT):
        chunk = rows[start : start + _LOG_ROWS_PER_INSERT]
        params = tuple(row.get(column, _LOG_DEFAULTS[column]) for row in chunk for column in LOG_COLUMNS)
        execute(f"INSERT INTO logs ({columns}) VALUES {', '.join([placeholders] * len(chunk))}", params)


def consume_log(**fields: Any) -> dict[str, Any]:
    """A consume-log row with One API's columns; unspecified columns take their defaults."""
    row = {"type": int(LogType.CONSUME), "created_at": int(time.time())}
    row.update(fields)
    return row
