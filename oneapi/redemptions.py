"""Redemption codes: created in bulk by admins, redeemed once by users.

A code is spent with one conditional UPDATE (``… WHERE id = ? AND status = enabled``) inside the
transaction that credits the user, so two users redeeming the same code at the same moment cannot both
succeed on any backend (One API's ``FOR UPDATE`` hint is ignored by GORM v2, SPEC §10.2).
"""

from __future__ import annotations

import time
import uuid

from oneapi.constants import LogType, RedemptionStatus
from oneapi.db.models import Redemption, User
from oneapi.errors import ApiError, found
from oneapi.logs import format_quota, record_log
from oneapi.state import AppState
from oneapi.users import credit_cached

NAME_MAX = 20
COUNT_MAX = 100


async def create_redemptions(state: AppState, user_id: int, name: str, quota: int, count: int) -> list[str]:
    """Insert ``count`` codes in one INSERT and return their keys."""
    if not 0 < len(name) <= NAME_MAX:
        raise ApiError(f"兑换码名称长度必须在1-{NAME_MAX}之间")
    if quota <= 0:
        raise ApiError("兑换码额度必须大于 0")
    if count <= 0:
        raise ApiError("兑换码个数必须大于0")
    if count > COUNT_MAX:
        raise ApiError(f"一次兑换码批量生成的个数不能大于 {COUNT_MAX}")
    now = int(time.time())
    keys = [uuid.uuid4().hex for _ in range(count)]
    rows = [{"user_id": user_id, "key": key, "name": name, "quota": quota, "created_time": now,
             "status": int(RedemptionStatus.ENABLED)} for key in keys]
    async with state.dbs.write_transaction():
        await state.dbs.main.aexecute(Redemption.insert_many(rows))
    return keys


async def redeem(state: AppState, user_id: int, key: str) -> int:
    """Spend the code and credit its quota to the user; returns the quota added."""
    if not key:
        raise ApiError("未提供兑换码")
    async with state.dbs.write_transaction():
        redemption = await Redemption.aget_or_none(Redemption.key == key)
        if redemption is None:
            raise ApiError("兑换失败，无效的兑换码")
        spent = await state.dbs.main.aexecute(
            Redemption.update(status=int(RedemptionStatus.USED), redeemed_time=int(time.time()))
            .where((Redemption.id == redemption.id) & (Redemption.status == int(RedemptionStatus.ENABLED))))
        if spent != 1:
            raise ApiError("兑换失败，该兑换码已被使用")
        credited = await state.dbs.main.aexecute(
            User.update(quota=User.quota + redemption.quota).where(User.id == user_id))
        if credited != 1:
            raise ApiError("用户不存在")
    credit_cached(state, user_id, redemption.quota)
    record_log(state, user_id, LogType.TOPUP, f"通过兑换码充值 {format_quota(state.options, redemption.quota)}",
               quota=redemption.quota)
    return redemption.quota


async def get_redemption(redemption_id: int) -> Redemption:
    return found(await Redemption.aget_or_none(Redemption.id == redemption_id), "兑换码不存在")


async def update_redemption(state: AppState, redemption_id: int, fields: dict[str, object]) -> Redemption:
    """Rename, re-price or switch a code on/off; a used code stays used."""
    if "name" in fields and not 0 < len(str(fields["name"])) <= NAME_MAX:
        raise ApiError(f"兑换码名称长度必须在1-{NAME_MAX}之间")
    if "status" in fields and fields["status"] not in (RedemptionStatus.ENABLED, RedemptionStatus.DISABLED):
        raise ApiError("兑换码状态只能是 1（启用）或 2（禁用）")
    async with state.dbs.write_transaction():
        redemption = await get_redemption(redemption_id)
        if "status" in fields and redemption.status == RedemptionStatus.USED:
            raise ApiError("该兑换码已被使用，无法修改状态")
        await state.dbs.main.aexecute(Redemption.update(**fields).where(
            (Redemption.id == redemption_id) & (Redemption.status == redemption.status)))
        return await get_redemption(redemption_id)


async def delete_redemption(state: AppState, redemption_id: int) -> None:
    async with state.dbs.write_transaction():
        deleted = await state.dbs.main.aexecute(Redemption.delete().where(Redemption.id == redemption_id))
    if not deleted:
        raise ApiError("兑换码不存在")
