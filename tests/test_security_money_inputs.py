"""Money inputs are finite numbers in range: a bad one is a clear refusal, and every list still loads after."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import Gateway


@pytest.mark.parametrize(("key", "value"), [
    ("ModelRatio", '{"gpt-3.5-turbo": -1}'), ("GroupRatio", '{"default": 1e300}'),
    ("CompletionRatio", '{"gpt-4": -0.5}'), ("QuotaPerUnit", "NaN"), ("QuotaPerUnit", "inf"),
    ("PreConsumedQuota", "1e400"), ("QuotaForNewUser", "-Infinity"),
])
async def test_ratios_and_quota_options_must_be_finite_and_in_range(gateway: Gateway, key: str, value: str):
    answer = await gateway.api("PUT", "/api/option/", {"key": key, "value": value})
    assert answer["success"] is False and answer["message"], answer
    options = {o["key"]: o["value"] for o in (await gateway.api("GET", "/api/option/"))["data"]}
    assert options[key] != value


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "r", "quota": 0, "count": 1}, "额度必须大于 0"),
    ({"name": "r", "quota": -5, "count": 1}, "额度必须大于 0"),
    ({"name": "r", "quota": 10, "count": 0}, "个数必须大于0"),
    ({"name": "r", "quota": 10, "count": 101}, "不能大于 100"),
    ({"name": "r", "quota": 2**63, "count": 1}, "超出范围"),
    ({"name": "r", "quota": "1e999", "count": 1}, "必须是整数"),
])
async def test_redemption_quota_and_count_are_checked(gateway: Gateway, body: dict, message: str):
    answer = await gateway.api("POST", "/api/redemption/", body)
    assert answer["success"] is False and message in answer["message"], answer
    assert (await gateway.api("GET", "/api/redemption/"))["success"]


@pytest.mark.parametrize("raw", [b'{"user_id": 1, "quota": 1e999}', b'{"user_id": 1, "quota": NaN}',
                                 b'{"user_id": 1, "quota": -10}', b'{"user_id": 1, "quota": 9223372036854775808}'])
async def test_top_ups_refuse_what_is_not_a_positive_int64(gateway: Gateway, raw: bytes):
    async with gateway.http.post(gateway.url + "/api/topup", data=raw,
                                 headers={"Authorization": "0123456789abcdef0123456789abcdef",
                                          "Content-Type": "application/json"}) as resp:
        assert resp.status in (200, 400)
        assert (await resp.json())["success"] is False
    users = await gateway.api("GET", "/api/user/")
    assert users["success"] and all(isinstance(u["quota"], int) for u in users["data"])
    assert orjson.dumps(users)
