"""The reservation journal: every quota a request holds is a row, so a crash can always give it back.

A reservation row is inserted in the transaction that debits the balance and leaves in the transaction that
settles it (with its log row). Its ``state`` makes every transition happen once, whoever runs it and however
often a batch is retried after an ambiguous commit:

- OPEN: the amount is held by a live request;
- SETTLED: the real charge is recorded but the balance not yet corrected (batch mode, BATCH_UPDATE_ENABLED);
- REFUNDED: the owner was found dead and the amount given back; a late settlement still charges in full.

Settled and open rows of dead processes are closed by ``reconcile`` (each process heartbeats in
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

from peewee import BigAutoField, BigIntegerField, CharField, IntegerField

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
        table_name = "ledger_reservations"
        indexes = ((("instance", "state"), False), (("state", "created_at"), False))


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


JOURNAL_MODELS = (Reservation, LedgerInstance, LogOutbox)
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


def statements(p: str) -> dict[str, str]:
    r = Reservation._meta.table_name
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
        "mark": (
            f"UPDATE {r} SET state = {int(State.SETTLED)}, charge = {p}, channel_id = {p}, counted = {p} "
            f"WHERE id = {p} AND state = {int(State.OPEN)}"
        ),
        "mark_refunded": (
            f"UPDATE {r} SET state = {int(State.SETTLED)}, amount = 0, charge = {p}, channel_id = {p}, "
            f"counted = {p} WHERE id = {p} AND state = {int(State.REFUNDED)}"
        ),
        "refund": (
            f"UPDATE {r} SET state = {int(State.REFUNDED)}, amount = 0 "
            f"WHERE id = {p} AND state = {int(State.OPEN)}"
        ),
        "rows": (
            f"SELECT id, user_id, token_id, token_limited, channel_id, amount, charge, counted, state, instance "
            f"FROM {r} WHERE state IN ({int(State.OPEN)}, {int(State.SETTLED)})"
        ),
        "settled_of": (
            f"SELECT id, user_id, token_id, token_limited, channel_id, amount, charge, counted, state, instance "
            f"FROM {r} WHERE instance = {p} AND state = {int(State.SETTLED)}"
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
    now = int(time.time())
    for user_id in sorted(totals.user_quota.keys() | totals.user_used.keys() | totals.user_requests.keys()):
        values = (totals.user_quota.get(user_id, 0), totals.user_used.get(user_id, 0),
                  totals.user_requests.get(user_id, 0))
        if any(values):
            execute(sql["settle_user"], (*values, user_id))
    for token_id in sorted(totals.token_remain.keys() | totals.token_used.keys()):
        remain, used = totals.token_remain.get(token_id, 0), totals.token_used.get(token_id, 0)
        execute(sql["settle_token"], (remain, used, now, token_id))
    for channel_id, used in sorted(totals.channel_used.items()):
        execute(sql["settle_channel"], (used, channel_id))


def settle_now(execute: Any, sql: dict[str, str], charge: Charge, totals: Totals) -> bool:
    """Close the reservation and book the charge; False if this settlement was already written."""
    if execute(sql["close"], (charge.reservation, int(State.OPEN))).rowcount == 1:
        totals.add(charge, charge.reserved)
    elif execute(sql["close"], (charge.reservation, int(State.REFUNDED))).rowcount == 1:
        totals.add(charge, 0)  # a reconciler gave the reservation back: charge in full
    else:
        return False
    return True


def record_settlement(execute: Any, sql: dict[str, str], charge: Charge) -> bool:
    """Batch mode: make the charge durable on its row now; the balance follows at the next flush."""
    params = (charge.quota, charge.channel_id, int(charge.counted), charge.reservation)
    return bool(execute(sql["mark"], params).rowcount == 1
                or execute(sql["mark_refunded"], params).rowcount == 1)


def apply_settled(execute: Any, sql: dict[str, str], rows: list[tuple[Any, ...]], totals: Totals) -> None:
    """Correct the balances for SETTLED rows and close them (each exactly once, whoever gets there first)."""
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
    settled ones, and forget dead processes; returns how many reservations were refunded."""
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
    for instance, *_ in instances:
        if instance not in alive:
            execute(sql["forget_instance"], (instance,))
    others = sorted(alive - {me})  # the outbox rows of processes no longer registered are mine to move
    execute(sql["adopt_outbox"] + "(" + ", ".join([sql["param"]] * (len(others) + 1)) + ")", (me, me, *others))
    execute(sql["forget_refunded"], (now - REFUNDED_KEPT_SECONDS,))
    return refunded
