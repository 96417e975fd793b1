"""/api/option/: root-only settings, secrets never shown, validation before anything is stored."""

from __future__ import annotations

import orjson

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def _options(gateway) -> dict[str, str]:
    answer = await gateway.api("GET", "/api/option/")
    assert answer["success"], answer
    return {item["key"]: item["value"] for item in answer["data"]}


async def test_round_trip_and_secrets_are_write_only(gateway):
    for key, value in (("SystemName", "My Gateway"), ("SMTPToken", "smtp-pass"), ("GitHubClientSecret", "gh"),
                       ("TurnstileSecretKey", "ts-secret"), ("WeChatServerToken", "wx"), ("CustomKey", "anything")):
        assert await gateway.api("PUT", "/api/option/", {"key": key, "value": value}) == {"success": True,
                                                                                         "message": ""}
    options = await _options(gateway)
    assert options["SystemName"] == "My Gateway" and options["CustomKey"] == "anything"
    assert options["QuotaPerUnit"] == "500000" and options["PasswordLoginEnabled"] == "true"
    for secret in ("SMTPToken", "GitHubClientSecret", "TurnstileSecretKey", "WeChatServerToken",
                   "MessagePusherToken"):
        assert secret not in options
    assert not {"smtp-pass", "gh", "ts-secret", "wx"} & set(options.values())
    status = (await gateway.api("GET", "/api/status", token=""))["data"]
    assert status["system_name"] == "My Gateway"


async def test_values_survive_a_restart(make_gateway):
    first = await make_gateway()
    assert (await first.api("PUT", "/api/option/", {"key": "Notice", "value": "**hello**"}))["success"]
    second = await make_gateway()  # same database file
    assert (await second.api("GET", "/api/notice", token=""))["data"] == "**hello**"


async def test_invalid_values_are_refused_and_not_stored(gateway):
    before = (await _options(gateway))["ModelRatio"]
    refused = await gateway.api("PUT", "/api/option/", {"key": "ModelRatio", "value": "{not json"})
    assert refused["success"] is False and refused["message"].startswith("ModelRatio is not valid JSON")
    refused = await gateway.api("PUT", "/api/option/", {"key": "GroupRatio", "value": '{"vip": "cheap"}'})
    assert refused == {"success": False, "message": "GroupRatio must be a JSON object of numbers"}
    assert (await _options(gateway))["ModelRatio"] == before
    for key, value, message in (
        ("Theme", "neon", "无效的主题"),
        ("LogConsumeEnabled", "yes", "LogConsumeEnabled 只能是 true 或 false"),
        ("QuotaForNewUser", "many", "QuotaForNewUser 必须是数字"),
        ("GitHubOAuthEnabled", "true", "无法启用 GitHub OAuth，请先填入 GitHub Client Id 以及 GitHub Client Secret！"),
        ("EmailDomainRestrictionEnabled", "true", None),  # the default whitelist is not empty
        ("WeChatAuthEnabled", "true", "无法启用微信登录，请先填入微信登录相关配置信息！"),
        ("TurnstileCheckEnabled", "true", "无法启用 Turnstile 校验，请先填入 Turnstile 校验相关配置信息！"),
    ):
        answer = await gateway.api("PUT", "/api/option/", {"key": key, "value": value})
        assert answer == ({"success": True, "message": ""} if message is None else
                          {"success": False, "message": message}), key
    async with gateway.http.put(gateway.url + "/api/option/", data=b"{oops",
                                headers={"Authorization": "0123456789abcdef0123456789abcdef"}) as resp:
        assert resp.status == 400 and (await resp.json()) == {"success": False, "message": "无效的参数"}
    assert (await gateway.api("PUT", "/api/option/", {"key": "", "value": "x"}))["message"] == "无效的参数"
    assert (await gateway.api("PUT", "/api/option/", {"key": "RetryTimes", "value": 2}))["success"]
    assert (await _options(gateway))["RetryTimes"] == "2"


async def test_model_ratio_change_applies_to_billing(gateway, fake_openai):
    user = await gateway.add_user(quota=10**6)
    await gateway.add_channel(fake_openai.url)
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    ratio = orjson.loads((await _options(gateway))["ModelRatio"])
    charged = []
    for price in (10, 20):
        ratio["gpt-3.5-turbo"] = price
        value = orjson.dumps(ratio).decode()
        assert (await gateway.api("PUT", "/api/option/", {"key": "ModelRatio", "value": value}))["success"]
        await client.chat.completions.create(**CHAT)
        await gateway.drain()
        charged.append((await gateway.api("GET", "/api/log/self?type=2", token=user["access_token"]))["data"][0])
    assert charged[0]["quota"] > 0 and charged[1]["quota"] == 2 * charged[0]["quota"]
    assert charged[1]["content"].startswith("倍率：20.00 × 1.00")


async def test_only_root_reads_or_writes_options(gateway):
    admin = await gateway.add_user("opsadmin")
    await gateway.api("POST", "/api/user/manage", {"username": "opsadmin", "action": "promote"})
    denied = {"success": False, "message": "无权进行此操作，权限不足"}
    assert await gateway.api("GET", "/api/option/", token=admin["access_token"]) == denied
    assert await gateway.api("PUT", "/api/option/", {"key": "SystemName", "value": "x"},
                             token=admin["access_token"]) == denied
