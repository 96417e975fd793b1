"""/api/redemption/* and redeeming codes with POST /api/user/topup."""

from __future__ import annotations

import asyncio
import re

from oneapi.constants import LogType


async def redeem_race(gateway, quota: int = 700) -> None:
    """Two users redeem one code at the same moment: exactly one gets the quota (shared with the storage test)."""
    code = (await gateway.api("POST", "/api/redemption/", {"name": "race", "quota": quota, "count": 1}))["data"][0]
    first, second = await gateway.add_user(quota=0), await gateway.add_user(quota=0)
    answers = await asyncio.gather(*(gateway.api("POST", "/api/user/topup", {"key": code}, token=u["access_token"])
                                     for u in (first, second)))
    assert sorted(a["success"] for a in answers) == [False, True], answers
    assert next(a for a in answers if not a["success"])["message"] == "兑换失败，该兑换码已被使用"
    quotas = [(await gateway.api("GET", "/api/user/self", token=u["access_token"]))["data"]["quota"]
              for u in (first, second)]
    assert sorted(quotas) == [0, quota]


async def test_create_many_codes_in_one_request_then_list_search_get(gateway):
    created = await gateway.api("POST", "/api/redemption/", {"name": "promo", "quota": 1000, "count": 12})
    assert created["success"], created
    keys = created["data"]
    assert len(keys) == 12 and len(set(keys)) == 12 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
    page0 = (await gateway.api("GET", "/api/redemption/?p=0"))["data"]
    page1 = (await gateway.api("GET", "/api/redemption/?p=1"))["data"]
    assert (len(page0), len(page1)) == (10, 2)
    assert [r["id"] for r in page0] == sorted((r["id"] for r in page0), reverse=True)
    assert {r["key"] for r in page0 + page1} == set(keys)
    assert all(r["status"] == 1 and r["quota"] == 1000 and r["name"] == "promo" and r["user_id"] > 0
               for r in page0)
    found = (await gateway.api("GET", "/api/redemption/search?keyword=pro"))["data"]
    assert len(found) == 12
    one = page1[0]
    assert (await gateway.api("GET", f"/api/redemption/search?keyword={one['id']}"))["data"][0]["id"] == one["id"]
    assert (await gateway.api("GET", f"/api/redemption/{one['id']}"))["data"] == one
    assert (await gateway.api("GET", "/api/redemption/999999"))["message"] == "兑换码不存在"


async def test_create_refusals(gateway):
    for body, message in (({"name": "", "quota": 1, "count": 1}, "兑换码名称长度必须在1-20之间"),
                          ({"name": "x" * 21, "quota": 1, "count": 1}, "兑换码名称长度必须在1-20之间"),
                          ({"name": "ok", "quota": 1, "count": 0}, "兑换码个数必须大于0"),
                          ({"name": "ok", "quota": 1, "count": 101}, "一次兑换码批量生成的个数不能大于 100")):
        assert await gateway.api("POST", "/api/redemption/", body) == {"success": False, "message": message}
    user = await gateway.add_user()
    assert (await gateway.api("POST", "/api/redemption/", {"name": "x", "quota": 1, "count": 1},
                              token=user["access_token"]))["message"] == "无权进行此操作，权限不足"


async def test_redeem_credits_once_and_logs(gateway):
    user = await gateway.add_user(quota=100)
    code = (await gateway.api("POST", "/api/redemption/", {"name": "gift", "quota": 250000, "count": 1}))["data"][0]
    answer = await gateway.api("POST", "/api/user/topup", {"key": code}, token=user["access_token"])
    assert answer == {"success": True, "message": "", "data": 250000}
    assert (await gateway.api("GET", "/api/user/self", token=user["access_token"]))["data"]["quota"] == 250100
    again = await gateway.api("POST", "/api/user/topup", {"key": code}, token=user["access_token"])
    assert again == {"success": False, "message": "兑换失败，该兑换码已被使用"}
    assert (await gateway.api("POST", "/api/user/topup", {"key": "0" * 32}, token=user["access_token"])) == {
        "success": False, "message": "兑换失败，无效的兑换码"}
    used = (await gateway.api("GET", "/api/redemption/search?keyword=gift"))["data"][0]
    assert used["status"] == 3 and used["redeemed_time"] > 0
    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/self?type={int(LogType.TOPUP)}", token=user["access_token"]))["data"]
    assert [entry["content"] for entry in logs] == ["通过兑换码充值 ＄0.500000 额度"]


async def test_two_concurrent_redeems_of_one_code(gateway):
    await redeem_race(gateway)


async def test_update_status_only_and_delete(gateway):
    user = await gateway.add_user()
    code = (await gateway.api("POST", "/api/redemption/", {"name": "edit", "quota": 5, "count": 1}))["data"][0]
    row = (await gateway.api("GET", "/api/redemption/search?keyword=edit"))["data"][0]
    edited = await gateway.api("PUT", "/api/redemption/", {"id": row["id"], "name": "edited", "quota": 9, "status": 2})
    assert edited["success"] and (edited["data"]["name"], edited["data"]["quota"], edited["data"]["status"]) == (
        "edited", 9, 1)  # a full edit changes name and quota only
    disabled = await gateway.api("PUT", "/api/redemption/?status_only=1", {"id": row["id"], "status": 2})
    assert disabled["data"]["status"] == 2 and disabled["data"]["name"] == "edited"
    assert (await gateway.api("POST", "/api/user/topup", {"key": code}, token=user["access_token"]))[
        "message"] == "兑换失败，该兑换码已被使用"
    assert (await gateway.api("PUT", "/api/redemption/?status_only=1", {"id": row["id"], "status": 1}))["success"]
    assert (await gateway.api("POST", "/api/user/topup", {"key": code}, token=user["access_token"]))["data"] == 9
    assert (await gateway.api("PUT", "/api/redemption/?status_only=1", {"id": row["id"], "status": 1}))[
        "message"] == "该兑换码已被使用，无法修改状态"
    assert (await gateway.api("PUT", "/api/redemption/", {"id": row["id"], "name": ""}))[
        "message"] == "兑换码名称长度必须在1-20之间"
    assert await gateway.api("DELETE", f"/api/redemption/{row['id']}") == {"success": True, "message": ""}
    assert (await gateway.api("DELETE", f"/api/redemption/{row['id']}"))["message"] == "兑换码不存在"
