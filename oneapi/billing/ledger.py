"""The ledger: the one place where quota moves, and the only writer of usage and log rows.

Every debit is one conditional UPDATE (``… WHERE quota >= amount``) plus a row in the reservation journal
(``billing/journal.py``), in one transaction, so concurrent requests on any number of nodes can never
reserve more than the shared balance, and a crash can always give a reservation back. Writes go through
one writer task that takes whatever is queued and runs it as one transaction (``billing/store.py``):
reservations are awaited by the request before it tells its client anything (it must know the answer; the
upstream call may already run meanwhile); a settlement or log row is durable once it is in the local
write-ahead file (``billing/spill.py``), which is all the answer's last byte waits for.

A settlement closes its journal row, corrects the balances and inserts its log row in one transaction; with
a separate log database (LOG_SQL_DSN) the log row goes into an outbox in the main one instead, which a mover
copies to the log database exactly once (``billing/outbox.py``). In batch mode (BATCH_UPDATE_ENABLED) the
reservation is closed and the log row written at once too, and the balance corrections go to this process's
pending sums in the same transaction, which the flush applies every BATCH_UPDATE_INTERVAL seconds (so the
users', tokens' and channels' rows are written that often, and kill -9 still loses nothing).

A failed write is retried with back-off, in order, never dropped (``billing/writer.py``); while it fails,
settlements and log rows wait in memory and in the write-ahead file, and new reservations fail at once with
LedgerUnavailable (a 503). ``stop()`` writes everything still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from oneapi.background import cancel_and_wait, unless_cancelled
from oneapi.billing import journal, outbox
from oneapi.billing.journal import Charge, Totals
from oneapi.billing.logrows import consume_log, insert_logs, log_exists
from oneapi.billing.outbox import UID, Mover
from oneapi.billing.spill import SpillFile
from oneapi.billing.store import Execute, Operation, OperationFailed, open_store
from oneapi.billing.writer import Item, LedgerOperation, LedgerUnavailable, Writer
from oneapi.cache import Cache
from oneapi.db.connect import Databases
from oneapi.db.migrate import migrate_models
from oneapi.db.models import Token, User

__all__ = ["Charge", "InsufficientQuota", "Ledger", "LedgerUnavailable", "Reservation", "consume_log"]

logger = logging.getLogger(__name__)

_LAST_MOVE_SECONDS = 5.0  # at stop, log rows still in the outbox are durable: moving them is a courtesy


class InsufficientQuota(OperationFailed):
    """A reservation the balance cannot cover; ``who`` is "user" or "token"."""

    def __init__(self, who: str) -> None:
        super().__init__(who)
        self.who = who


@dataclasses.dataclass(slots=True)
class Reservation:
    id: str
    debited: asyncio.Future[None]  # done once the debit is durable; InsufficientQuota if refused
    held: bool  # the cached balances covered it and hold it already: the upstream call may start now


def _covers(user: User | None, token: Token | None, amount: int) -> bool:
    """The cached balances pass the test the debit makes in the database (``quota >= amount``; a zero amount
    needs a user quota of 0 or more and a token quota above 0)."""
    if user is None or user.quota < amount:
        return False
    return token is None or (token.remain_quota >= amount if amount else token.remain_quota > 0)


def _failed(debited: asyncio.Future[None]) -> bool:
    """A done debit that took nothing."""
    return debited.cancelled() or debited.exception() is not None


def _move_cached(user: User | None, token: Token | None, amount: int) -> None:
    """Take ``amount`` from the cached user and limited token (a negative amount gives it back)."""
    if user is not None:
        user.quota -= amount
    if token is not None:
        token.remain_quota -= amount
        token.used_quota += amount


class Ledger:
    def __init__(self, dbs: Databases, cache: Cache, batch_interval: float | None = None,
                 busy_timeout_ms: int = 3000, reconcile_interval: float | None = None) -> None:
        self.dbs = dbs
        self.cache = cache
        self.batch_interval = batch_interval  # None: balances are corrected in the settlement's transaction
        self.reconcile_interval = reconcile_interval  # None: only at start (the master reconciles periodically)
        self.instance = uuid.uuid4().hex
        # Reservation ids: this process's random prefix and a sequence (unique on every node, without a
        # uuid4 per request); 32 characters, the journal's column.
        self._reservation_ids = map(f"{self.instance[:20]}{{:012x}}".format, itertools.count())
        main = open_store(dbs, dbs.main, busy_timeout_ms)
        self._sql = journal.statements(main.param)
        self._main = Writer("main", main, SpillFile(self.instance + "-main"), self._build_main)
        # With a separate log database, log rows go through the outbox in the main one (billing/outbox.py).
        self._mover = (None if dbs.logs is dbs.main
                       else Mover(self._main, open_store(dbs, dbs.logs, busy_timeout_ms), self.instance))
        self._in_flight: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # Told (user, quota before the request, quota after) when a charge settles: low-quota reminders.
        self.on_charged: Callable[[User, int, int], None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Create the journal, register this process, replay dead processes' spill files, reconcile."""
        main = self.dbs.main
        # under the lock: nodes may start at once
        await main.run(migrate_models, main, journal.JOURNAL_MODELS, journal.OBSOLETE_INDEXES)
        if self._mover is not None:
            await self.dbs.logs.run(migrate_models, self.dbs.logs, (journal.LogMoved,))
        await self.dbs.release()
        self._main.start()
        await self._main.submit(self._register)
        for path, records, handle in self._main.spill.claim_orphans():
            logger.warning("replaying %d ledger writes a stopped process left in %s", len(records), path)
            for record in records:
                if "charge" in record:
                    self._main.put(Item(charge=Charge(**record["charge"])))
                else:
                    self._main.put(Item(log=record["log"], replayed=True))
            await self._main.join()
            path.unlink(missing_ok=True)
            handle.close()
        await self.reconcile()  # also hands this process the outbox rows of stopped ones
        if self.batch_interval:
            await self.flush()  # the replayed settlements are a stopped process's: apply them now
        if self._mover is not None:
            self._mover.start()
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="ledger-heartbeat"))
        if self.batch_interval:
            self._tasks.append(asyncio.create_task(self._flush_loop(), name="ledger-batch"))

    async def stop(self, timeout: float = 15.0) -> None:
        """Write everything queued and pending, give back what this process still holds, then stop.

        If the database is away longer than ``timeout``, what is left stays in the spill file for the next
        start to replay."""
        if self._mover is not None:
            await self._mover.stop()
        await cancel_and_wait(self._tasks)
        with contextlib.suppress(LedgerUnavailable, TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drain()
                if self.batch_interval:
                    await self.flush()
                self._in_flight.clear()
                await self.reconcile()
                await self._main.submit(lambda execute, _: execute(self._sql["forget_instance"], (self.instance,)))
                await self._main.join()
        if self._mover is not None and self._mover.reachable:
            with contextlib.suppress(LedgerUnavailable, TimeoutError):
                async with asyncio.timeout(min(timeout, _LAST_MOVE_SECONDS)):
                    await self._mover.drain()  # what is left waits in the outbox for the next process
            await self._mover.logs.close()
        await self._main.stop()
        await self._main.store.close()
        self._main.spill.close()

    async def drain(self) -> None:
        """Wait until every settlement and log queued so far is in the database, and, unless the log
        database is away, every log row in the log database."""
        await self._main.join()
        if self._mover is not None and self._mover.reachable:
            with contextlib.suppress(LedgerUnavailable):
                await self._mover.drain()

    async def flush(self) -> None:
        """Batch mode: apply this process's pending sums to the balances."""
        def apply(execute: Execute, totals: Totals) -> None:
            rows = execute(self._sql["pending_of"], (self.instance,)).fetchall()
            journal.take_pending(execute, self._sql, rows, totals)

        await self._main.submit(apply)

    async def reconcile(self) -> int:
        """Refund the reservations of dead processes (and this process's strays); returns how many."""
        in_flight = set(self._in_flight)
        return int(await self._main.submit(
            lambda execute, totals: journal.reconcile(execute, self._sql, self.instance, in_flight, totals)))

    def _register(self, execute: Execute, _: Totals) -> None:
        now = int(time.time())
        # MySQL counts an UPDATE that changes nothing (a beat in the same second) as 0 rows: look before inserting
        if (execute(self._sql["beat"], (now, self.instance)).rowcount != 1
                and not execute(self._sql["instance"], (self.instance,)).fetchall()):
            execute(self._sql["register"], (self.instance, journal.HOST[:191], os.getpid(), now))

    async def _heartbeat_loop(self) -> None:
        last_reconcile = time.monotonic()
        while True:
            await asyncio.sleep(journal.HEARTBEAT_SECONDS)
            try:
                await self._main.submit(self._register)
                if self.reconcile_interval and time.monotonic() - last_reconcile >= self.reconcile_interval:
                    last_reconcile = time.monotonic()
                    if refunded := await self.reconcile():
                        logger.warning("refunded %d reservations of stopped processes", refunded)
            except LedgerUnavailable:
                pass  # the writer logs the outage; the heartbeat resumes with the database
            except Exception:
                unless_cancelled()
                logger.exception("the ledger's heartbeat failed")

    async def _flush_loop(self) -> None:
        assert self.batch_interval
        while True:
            await asyncio.sleep(self.batch_interval)
            with contextlib.suppress(LedgerUnavailable):
                await self.flush()

    # -- the request side ------------------------------------------------------------------------
    def reserve(self, user_id: int, token_id: int, token_limited: bool, amount: int,
                request_id: str = "") -> Reservation:
        """Start taking ``amount`` from the user and (if limited) the token: the reservation's debit is done
        once durable, or failed with InsufficientQuota (or LedgerUnavailable). Even a zero amount is checked
        against the balances in the database. While it is being written, the caller may call the upstream if
        the reservation is ``held``, but must tell its client nothing before the debit is done."""
        if not self._main.available():
            raise LedgerUnavailable("the database is not reachable")
        amount = max(amount, 0)
        sql, now, reservation = self._sql, int(time.time()), next(self._reservation_ids)

        def debit(execute: Execute, _: Totals) -> None:
            if amount == 0:
                if not execute(sql["user_has_quota"], (user_id,)).fetchall():
                    raise InsufficientQuota("user")
                if token_limited and not execute(sql["token_has_quota"], (token_id,)).fetchall():
                    raise InsufficientQuota("token")
            else:
                if execute(sql["debit_user"], (amount, user_id, amount)).rowcount != 1:
                    raise InsufficientQuota("user")
                if token_limited and execute(sql["debit_token"], (amount, amount, now, token_id, amount)).rowcount != 1:
                    execute(sql["credit_user"], (amount, user_id))
                    raise InsufficientQuota("token")
            execute(sql["insert"], (reservation, request_id[:64], user_id, token_id, int(token_limited), amount,
                                    self.instance, now))

        # When the cached balances pass the debit's own test, they are debited now, so that this process's
        # concurrent requests see what is held; otherwise (a refusal, or a top-up the cache has not seen) only
        # once the database agrees. Given back, on the same objects, if the debit fails.
        user = self.cache.user(user_id)
        token = self.cache.token_by_id(token_id) if token_limited else None
        held = _covers(user, token, amount)
        if held:
            _move_cached(user, token, amount)

        def booked(future: asyncio.Future[None]) -> None:
            if _failed(future):
                self._in_flight.discard(reservation)
                if held:
                    _move_cached(user, token, -amount)
            elif not held:
                _move_cached(user, token, amount)

        self._in_flight.add(reservation)
        debited: asyncio.Future[None] = self._main.enqueue(debit)
        debited.add_done_callback(booked)
        return Reservation(reservation, debited, held)

    def refund(self, reservation: Reservation, user_id: int, token_id: int, token_limited: bool,
               amount: int) -> None:
        """Give a reservation back (the request failed); written without delaying anyone. With its debit still
        being written, the refund waits for it, and is nothing if the debit failed."""
        debited = reservation.debited
        if not debited.done():
            debited.add_done_callback(lambda _: self.refund(reservation, user_id, token_id, token_limited, amount))
            return
        if _failed(debited):
            return
        self.settle(Charge(reservation.id, user_id, token_id, token_limited, 0, amount, 0, None, counted=False))

    def settle(self, charge: Charge) -> asyncio.Future[None]:
        """Replace the reservation by the real charge, add usage counters and the log row; the future is set
        once the settlement is durable (in the write-ahead file, or in the database if that file cannot be
        written)."""
        delta = charge.quota - charge.reserved
        user = self.cache.user(charge.user_id)
        if user is not None:
            user.quota -= delta
            user.used_quota += charge.quota
            user.request_count += 1 if charge.counted else 0
            if charge.quota and self.on_charged is not None:
                self.on_charged(user, user.quota + charge.quota, user.quota)
        token = self.cache.token_by_id(charge.token_id)
        if token is not None:
            if charge.token_limited:
                token.remain_quota -= delta
            token.used_quota += delta if charge.token_limited else charge.quota
        channel = self.cache.channel(charge.channel_id)
        if channel is not None:
            channel.used_quota += charge.quota
        self._in_flight.discard(charge.reservation)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._main.put(Item(charge=charge, written=written))
        return written

    def log(self, row: dict[str, Any]) -> None:
        """Queue a log row that moves no quota (top-up, manage, system and test logs)."""
        self._main.put(Item(log={**row, UID: uuid.uuid4().hex}))  # the uid makes its move happen once

    # -- building transactions -------------------------------------------------------------------
    def _build_main(self, batch: list[Item], retry: bool) -> tuple[list[Operation], list[asyncio.Future[Any] | None],
                                                      Callable[[], None]]:
        sql, totals, param = self._sql, Totals(), self._main.store.param
        settlements = Totals() if self.batch_interval else totals  # batch mode: to the pending sums
        operations: list[Operation] = []
        futures: list[asyncio.Future[Any] | None] = []

        def settle(execute: Execute, charge: Charge) -> None:
            if journal.settle_now(execute, sql, charge, settlements) and charge.log is not None:
                totals.logs.append(charge.log)

        def run_operation(execute: Execute, operation: LedgerOperation) -> Any:
            return operation(execute, totals)

        def keep_log(execute: Execute, row: dict[str, Any], check: bool) -> None:
            # A retried batch or a replayed spill file may have written it; through the outbox its uid tells.
            if check and self._mover is None and log_exists(execute, param, row):
                return
            totals.logs.append(row)

        for item in batch:
            if item.operation is not None:
                operations.append(functools.partial(run_operation, operation=item.operation))
                futures.append(item.future)
            elif item.charge is not None:
                operations.append(functools.partial(settle, charge=item.charge))
                futures.append(None)
            elif item.log is not None:
                operations.append(functools.partial(keep_log, row=item.log, check=retry or item.replayed))
                futures.append(None)

        def finish(execute: Execute) -> None:
            journal.write_totals(execute, sql, totals)
            if settlements is not totals:
                journal.add_pending(execute, sql, self.instance, settlements)
            if not totals.logs:
                return
            if self._mover is None:
                insert_logs(execute, param, totals.logs)
            else:
                outbox.put(execute, param, self.instance, totals.logs)

        operations.append(finish)
        futures.append(None)

        def after_commit() -> None:
            if self._mover is not None and totals.logs:
                self._mover.wake.set()

        return operations, futures, after_commit
