"""The reservation journal: every quota a request holds is a row, so a crash can always give it back.

A reservation row is inserted in the transaction that debits the balance and leaves in the transaction that
settles it (with its log row). Its ``state`` makes every transition happen once, whoever runs it and however
often a batch is retried after an ambiguous commit:

- OPEN: the amount is held by a live request;
- SETTLED: a charge recorded but not yet in the balances (left by earlier builds' batch mode);
- REFUNDED: the owner was found dead and the amount given back; a late settlement still charges in full.

In batch mode (BATCH_UPDATE_ENABLED) a settlement still closes its row at once, and its balance corrections
are added to this process's sums in ``ledger_pending`` (a few rows per transaction, whatever the number of
requests) instead of to the users', tokens' and channels' rows, which the flush corrects from those sums every
BATCH_UPDATE_INTERVAL.

Open rows and pending sums of dead processes are settled by ``reconcile`` (each process heartbeats in
``ledger_instances``). These tables are ours (with the log outbox of ``billing/outbox.py``); One API's
tables are untouched.
"""

from __future__ import annotations

import enum
import os
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from peewee import BigAutoField, BigIntegerField, CharField, CompositeKey, IntegerField

from oneapi.constants import LogType
from oneapi.db.models import AsyncModel, BaseModel, Log, log_db

HEARTBEAT_SECONDS = 5.0
DEAD_AFTER_SECONDS = 30  # a process that has not heartbeaten for this long is dead
REFUNDED_KEPT_SECONDS = 86_400  # how long a refunded row waits for a late settlement


class State(enum.IntEnum):
    OPEN = 0
    SETTLED = 1
    REFUNDED = 3


class Reservation(BaseModel):
    id = CharField(max_length=32, primary_key=True)
    request_id = CharField(max_length=64, default="")
    user_id = IntegerField()
    token_id = IntegerField()
    token_limited = IntegerField()
    channel_id = IntegerField(default=0)
    amount = BigIntegerField()  # quota still held
    charge = BigIntegerField(default=0)  # the real cost, once settled
    counted = IntegerField(default=0)  # whether the settlement counts as a request
    state = IntegerField(default=int(State.OPEN))
    instance = CharField(max_length=32)
    created_at = BigIntegerField()

    class Meta:
        # No secondary index: the table holds only the reservations in flight (and, for a day, the refunded ones
        # of stopped processes), which the reconciliation scans; every request inserts and deletes a row, and
        # each index made that two B-tree writes more (about 3.5 µs of the ledger's thread per request).
        table_name = "ledger_reservations"


# Indexes of our tables that earlier builds made and nothing reads any more: dropped at start.
OBSOLETE_INDEXES = {"ledger_reservations": ("ledger_reservations_instance_state",
                                            "ledger_reservations_state_created_at")}


class Kind(enum.IntEnum):
    """Whose balance a pending sum corrects."""

    USER = 0
    TOKEN = 1
    CHANNEL = 2


class PendingSum(BaseModel):
    """Batch mode: one process's balance corrections for one user, token or channel, not yet applied."""

    instance = CharField(max_length=32)
    kind = IntegerField()
    target = IntegerField()
    quota = BigIntegerField(default=0)  # subtracted from users.quota / tokens.remain_quota
    used = BigIntegerField(default=0)  # added to used_quota
    requests = BigIntegerField(default=0)  # added to users.request_count

    class Meta:
        table_name = "ledger_pending"
        primary_key = CompositeKey("instance", "kind", "target")


class LedgerInstance(BaseModel):
    instance = CharField(max_length=32, primary_key=True)
    host = CharField(max_length=191)
    pid = IntegerField()
    heartbeat_at = BigIntegerField()

    class Meta:
        table_name = "ledger_instances"


class LogOutbox(BaseModel):
    """Log rows on their way to a separate log database (``billing/outbox.py``)."""

    id = BigAutoField()
    uid = CharField(max_length=32)
    instance = CharField(max_length=32)
    keep = IntegerField(default=0)  # 1: a Ledger.log() row, whose marker outlives the move

    class Meta:
        table_name = "ledger_log_outbox"
        indexes = ((("instance", "id"), False),)


for _field in Log._meta.sorted_fields:  # the outbox holds One API's log columns as they are
    if _field.name != "id":
        LogOutbox._meta.add_field(_field.name, _field.clone())


class LogMoved(AsyncModel):
    """In the log database: the outbox rows already copied there, written in the copy's transaction."""

    id = CharField(max_length=32, primary_key=True)  # the outbox row's uid
    moved_at = BigIntegerField()

    class Meta:
        database = log_db
        table_name = "ledger_log_moved"
        legacy_table_names = False
        indexes = ((("moved_at",), False),)


JOURNAL_MODELS = (Reservation, LedgerInstance, LogOutbox, PendingSum)
HOST = socket.gethostname()


@dataclass(slots=True)
class Charge:
    """The outcome of one billed request, settled against its reservation."""

    reservation: str
    user_id: int
    token_id: int
    token_limited: bool
    channel_id: int
    reserved: int
    quota: int
    log: dict[str, Any] | None  # the consume log row, or None when LogConsumeEnabled is off
    counted: bool = True  # a refund is not a request


@dataclass
class Totals:
    """Balance corrections summed per row, written as one UPDATE per row."""

    user_quota: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    user_requests: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    token_remain: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    token_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    channel_used: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    logs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, charge: Charge, held: int) -> None:
        """Replace ``held`` (what the reservation still holds) by the real charge."""
        delta = charge.quota - held
        self.user_quota[charge.user_id] += delta
        self.user_used[charge.user_id] += charge.quota
        self.user_requests[charge.user_id] += 1 if charge.counted else 0
        if charge.token_id:
            if charge.token_limited:
                self.token_remain[charge.token_id] += delta
                self.token_used[charge.token_id] += delta
            else:
                self.token_used[charge.token_id] += charge.quota
        if charge.channel_id and charge.quota:
            self.channel_used[charge.channel_id] += charge.quota

    def add_sum(self, kind: int, target: int, quota: int, used: int, requests: int) -> None:
        """Add a pending sum (one row of ``rows()``, written earlier)."""
        if kind == Kind.USER:
            self.user_quota[target] += quota
            self.user_used[target] += used
            self.user_requests[target] += requests
        elif kind == Kind.TOKEN:
            self.token_remain[target] += quota
            self.token_used[target] += used
        else:
            self.channel_used[target] += used

    def rows(self) -> list[tuple[Kind, int, int, int, int]]:
        """(kind, id, quota, used, requests) per user, token and channel, each kind in id order (the order
        every writer locks rows in); a token's row even when all zero (its accessed_time moves)."""
        users = sorted(self.user_quota.keys() | self.user_used.keys() | self.user_requests.keys())
        tokens = sorted(self.token_remain.keys() | self.token_used.keys())
        return [
            *((Kind.USER, u, self.user_quota.get(u, 0), self.user_used.get(u, 0), self.user_requests.get(u, 0))
              for u in users),
            *((Kind.TOKEN, t, self.token_remain.get(t, 0), self.token_used.get(t, 0), 0) for t in tokens),
            *((Kind.CHANNEL, c, 0, used, 0) for c, used in sorted(self.channel_used.items())),
        ]


def statements(p: str) -> dict[str, str]:
    r, s = Reservation._meta.table_name, PendingSum._meta.table_name
    return {
        "param": p,
        "debit_user": f"UPDATE users SET quota = quota - {p} WHERE id = {p} AND quota >= {p}",
        # remain_quota > 0 too: a zero reservation is still checked against the shared balance
        "debit_token": (
            f"UPDATE tokens SET remain_quota = remain_quota - {p}, used_quota = used_quota + {p}, "
            f"accessed_time = {p} WHERE id = {p} AND remain_quota >= {p} AND remain_quota > 0"
        ),
        "user_has_quota": f"SELECT 1 FROM users WHERE id = {p} AND quota >= 0",
        "token_has_quota": f"SELECT 1 FROM tokens WHERE id = {p} AND remain_quota > 0",
        "credit_user": f"UPDATE users SET quota = quota + {p} WHERE id = {p}",
        "insert": (
            f"INSERT INTO {r} (id, request_id, user_id, token_id, token_limited, channel_id, amount, charge, "
            f"counted, state, instance, created_at) VALUES ({p}, {p}, {p}, {p}, {p}, 0, {p}, 0, 0, 0, {p}, {p})"
        ),
        "close": f"DELETE FROM {r} WHERE id = {p} AND state = {p}",
        "refund": (
            f"UPDATE {r} SET state = {int(State.REFUNDED)}, amount = 0 "
            f"WHERE id = {p} AND state = {int(State.OPEN)}"
        ),
        "rows": (
            f"SELECT id, user_id, token_id, token_limited, channel_id, amount, charge, counted, state, instance "
            f"FROM {r} WHERE state IN ({int(State.OPEN)}, {int(State.SETTLED)})"
        ),
        "pending_add": (
            f"UPDATE {s} SET quota = quota + {p}, used = used + {p}, requests = requests + {p} "
            f"WHERE instance = {p} AND kind = {p} AND target = {p}"
        ),
        "pending_insert": f"INSERT INTO {s} (instance, kind, target, quota, used, requests) "
                          f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
        "pending": f"SELECT instance, kind, target, quota, used, requests FROM {s}",
        "pending_of": f"SELECT instance, kind, target, quota, used, requests FROM {s} WHERE instance = {p}",
        # the amounts too: a sum its owner added to meanwhile is not the one that was read
        "pending_take": (
            f"DELETE FROM {s} WHERE instance = {p} AND kind = {p} AND target = {p} AND quota = {p} "
            f"AND used = {p} AND requests = {p}"
        ),
        "forget_refunded": f"DELETE FROM {r} WHERE state = {int(State.REFUNDED)} AND created_at < {p}",
        "instances": "SELECT instance, host, pid, heartbeat_at FROM ledger_instances",
        "instance": f"SELECT 1 FROM ledger_instances WHERE instance = {p}",
        "beat": f"UPDATE ledger_instances SET heartbeat_at = {p} WHERE instance = {p}",
        "register": f"INSERT INTO ledger_instances (instance, host, pid, heartbeat_at) VALUES ({p}, {p}, {p}, {p})",
        "forget_instance": f"DELETE FROM ledger_instances WHERE instance = {p}",
        "adopt_outbox": f"UPDATE {LogOutbox._meta.table_name} SET instance = {p} WHERE instance NOT IN ",
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


def _row_charge(row: tuple[Any, ...]) -> tuple[Charge, int, int]:
    """(charge, held, state) of a journal row."""
    rid, user_id, token_id, limited, channel_id, amount, charge, counted, state, _ = row
    return (Charge(rid, user_id, token_id, bool(limited), channel_id, amount, charge, None, bool(counted)),
            amount, state)


def write_totals(execute: Any, sql: dict[str, str], totals: Totals) -> None:
    """Correct the balances: one UPDATE per user, token and channel."""
    now = int(time.time())
    for kind, target, quota, used, requests in totals.rows():
        if kind == Kind.USER:
            if quota or used or requests:
                execute(sql["settle_user"], (quota, used, requests, target))
        elif kind == Kind.TOKEN:
            execute(sql["settle_token"], (quota, used, now, target))
        else:
            execute(sql["settle_channel"], (used, target))


def add_pending(execute: Any, sql: dict[str, str], instance: str, totals: Totals) -> None:
    """Batch mode: add the corrections to this process's pending sums instead of the balances."""
    for kind, target, quota, used, requests in totals.rows():
        if not (quota or used or requests):
            continue  # MySQL would count the UPDATE as 0 rows, and the INSERT would then collide
        key = (instance, int(kind), target)
        if execute(sql["pending_add"], (quota, used, requests, *key)).rowcount != 1:
            execute(sql["pending_insert"], (*key, quota, used, requests))


def take_pending(execute: Any, sql: dict[str, str], rows: list[tuple[Any, ...]], totals: Totals) -> None:
    """Move pending sums (rows of the "pending" query) into ``totals``, each exactly once, whoever gets there
    first."""
    for row in rows:
        if execute(sql["pending_take"], row).rowcount == 1:
            totals.add_sum(*row[1:])


def settle_now(execute: Any, sql: dict[str, str], charge: Charge, totals: Totals) -> bool:
    """Close the reservation and book the charge; False if this settlement was already written."""
    if execute(sql["close"], (charge.reservation, int(State.OPEN))).rowcount == 1:
        totals.add(charge, charge.reserved)
    elif execute(sql["close"], (charge.reservation, int(State.REFUNDED))).rowcount == 1:
        totals.add(charge, 0)  # a reconciler gave the reservation back: charge in full
    else:
        return False
    return True


def apply_settled(execute: Any, sql: dict[str, str], rows: list[tuple[Any, ...]], totals: Totals) -> None:
    """Correct the balances for SETTLED rows (an earlier build's batch mode) and close them, each once."""
    for row in rows:
        charge, held, _ = _row_charge(row)
        if execute(sql["close"], (charge.reservation, int(State.SETTLED))).rowcount == 1:
            totals.add(charge, held)


def _alive(host: str, pid: int, heartbeat_at: int, now: int) -> bool:
    if now - heartbeat_at > DEAD_AFTER_SECONDS:
        return False
    if host == HOST:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def reconcile(execute: Any, sql: dict[str, str], me: str, in_flight: set[str], totals: Totals) -> int:
    """Refund the open reservations of dead processes (and this process's own strays), apply their
    pending sums, and forget dead processes; returns how many reservations were refunded."""
    now = int(time.time())
    instances = execute(sql["instances"], ()).fetchall()
    alive = {i for i, host, pid, beat in instances if i == me or _alive(host, pid, beat, now)}
    refunded = 0
    rows = execute(sql["rows"], ()).fetchall()
    for row in rows:
        instance = row[-1]
        charge, held, state = _row_charge(row)
        if state == State.SETTLED:
            if instance not in alive:
                apply_settled(execute, sql, [row], totals)
            continue
        stray = instance == me and charge.reservation not in in_flight
        if (instance not in alive or stray) and execute(sql["refund"], (charge.reservation,)).rowcount == 1:
            totals.add(Charge(charge.reservation, charge.user_id, charge.token_id, charge.token_limited, 0,
                              held, 0, None, counted=False), held)
            totals.logs.append({
                "user_id": charge.user_id, "type": int(LogType.SYSTEM), "created_at": now, "quota": 0,
                "content": f"退还预扣费 {held}：处理该请求的进程已停止（预扣记录 {charge.reservation}）",
            })
            refunded += 1
    take_pending(execute, sql, [row for row in execute(sql["pending"], ()).fetchall() if row[0] not in alive],
                 totals)
    for instance, *_ in instances:
        if instance not in alive:
            execute(sql["forget_instance"], (instance,))
    others = sorted(alive - {me})  # the outbox rows of processes no longer registered are mine to move
    execute(sql["adopt_outbox"] + "(" + ", ".join([sql["param"]] * (len(others) + 1)) + ")", (me, me, *others))
    execute(sql["forget_refunded"], (now - REFUNDED_KEPT_SECONDS,))
    return refunded
