"""Public site information, the model/group pickers, rate limits, gzip, and unknown /api paths."""

from __future__ import annotations

import aiohttp

from oneapi import __version__

STATUS_KEYS = {"version", "start_time", "email_verification", "github_oauth", "github_client_id", "lark_client_id",
               "system_name", "logo", "footer_html", "wechat_qrcode", "wechat_login", "server_address",
               "turnstile_check", "turnstile_site_key", "top_up_link", "chat_link", "quota_per_unit",
               "display_in_currency", "oidc", "oidc_client_id", "oidc_well_known", "oidc_authorization_endpoint",
               "oidc_token_endpoint", "oidc_userinfo_endpoint"}


async def test_status_is_public_and_complete(gateway):
    answer = await gateway.api("GET", "/api/status", token="")
    assert answer["success"] is True
    data = answer["data"]
    assert set(data) == STATUS_KEYS
    assert data["version"] == __version__ and data["start_time"] == gateway.state.started_at
    assert (data["system_name"], data["quota_per_unit"], data["display_in_currency"]) == ("One API", 500000, True)
    assert data["github_oauth"] is False and data["turnstile_check"] is False
    await gateway.api("PUT", "/api/option/", {"key": "Footer", "value": "<b>f</b>"})
    await gateway.api("PUT", "/api/option/", {"key": "QuotaPerUnit", "value": "1000"})
    data = (await gateway.api("GET", "/api/status", token=""))["data"]
    assert data["footer_html"] == "<b>f</b>" and data["quota_per_unit"] == 1000


async def test_content_pages_are_public(gateway):
    for key, path in (("Notice", "/api/notice"), ("About", "/api/about"),
                      ("HomePageContent", "/api/home_page_content")):
        assert await gateway.api("GET", path, token="") == {"success": True, "message": "", "data": ""}
        await gateway.api("PUT", "/api/option/", {"key": key, "value": f"# {key}"})
        assert (await gateway.api("GET", path, token=""))["data"] == f"# {key}"


async def test_models_groups_and_available_models(gateway, fake_openai):
    user = await gateway.add_user(group="vip")
    models = await gateway.api("GET", "/api/models", token=user["access_token"])
    assert models["success"] and "gpt-3.5-turbo" in models["data"]["1"]
    assert set(models["data"]) >= {str(t) for t in range(1, 52)}
    async with gateway.http.get(gateway.url + "/api/models") as resp:
        assert resp.status == 401
    groups = (await gateway.api("GET", "/api/group/"))["data"]
    assert set(groups) >= {"default", "vip", "svip"}
    assert (await gateway.api("GET", "/api/group/", token=user["access_token"]))["success"] is False
    await gateway.add_channel(fake_openai.url, models="gpt-4o,gpt-3.5-turbo", group="vip")
    await gateway.add_channel(fake_openai.url, models="o1", group="default")
    await gateway.add_channel(fake_openai.url, models="o3-mini", group="vip", status=2)
    available = await gateway.api("GET", "/api/user/available_models", token=user["access_token"])
    assert available == {"success": True, "message": "", "data": ["gpt-3.5-turbo", "gpt-4o"]}


async def test_unknown_api_path_and_bad_ids(gateway):
    async with gateway.http.get(gateway.url + "/api/nothing-here") as resp:
        assert resp.status == 404
    assert await gateway.api("GET", "/api/user/abc") == {"success": False, "message": "无效的参数"}
    assert await gateway.api("GET", "/api/user/999999") == {"success": False, "message": "用户不存在"}
    # paths without the trailing slash work like gin's redirect
    assert (await gateway.api("GET", "/api/user"))["success"]


async def test_responses_are_gzipped_when_accepted(gateway):
    async with gateway.http.get(gateway.url + "/api/status", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers.get("Content-Encoding") == "gzip"
        assert (await resp.json())["success"]


async def test_global_api_rate_limit_answers_429_with_empty_body(make_gateway):
    gateway = await make_gateway(DEBUG="false", GLOBAL_API_RATE_LIMIT="5")
    statuses = []
    for _ in range(7):
        async with gateway.http.get(gateway.url + "/api/status") as resp:
            statuses.append(resp.status)
            body = await resp.read()
    assert statuses == [200] * 5 + [429] * 2
    assert body == b""


async def test_critical_rate_limit_on_login_and_debug_switches_limits_off(make_gateway):
    gateway = await make_gateway(DEBUG="false", GLOBAL_API_RATE_LIMIT="1000")
    statuses = []
    async with aiohttp.ClientSession() as session:
        for attempt in range(21):  # a new name each time: the per-username failure limit stays out of this
            async with session.post(gateway.url + "/api/user/login",
                                    json={"username": f"nobody{attempt}", "password": "wrong-password"}) as resp:
                statuses.append(resp.status)
    assert statuses == [200] * 20 + [429]
    async with gateway.http.get(gateway.url + "/api/status") as resp:  # only the critical routes are blocked
        assert resp.status == 200

    relaxed = await make_gateway(GLOBAL_API_RATE_LIMIT="2")  # DEBUG=true from the fixture
    for _ in range(4):
        async with relaxed.http.get(relaxed.url + "/api/status") as resp:
            assert resp.status == 200
