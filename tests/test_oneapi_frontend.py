"""One API's own web frontend (web/default) against our /api, route by route.

Each step sends what the frontend sends (same path form, trailing slashes included, same body) with a session
cookie, as the browser does, and checks the fields the frontend reads with their JSON types: a renamed field,
a number turned string, null where the page calls ``.split`` would break that page. ``FIELDS`` records the
answer shapes; the pages that read them are named next to each.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

NUMBER = (int, float)
FIELDS: dict[str, dict[str, Any]] = {
    # TokensTable / EditToken: models.split(','), subnet in an input, expired_time compared with -1
    "token": {"id": int, "user_id": int, "key": str, "status": int, "name": str, "created_time": int,
              "accessed_time": int, "expired_time": int, "remain_quota": int, "unlimited_quota": bool,
              "used_quota": int, "models": str, "subnet": str},
    # ChannelsTable / EditChannel: balance.toFixed, response_time / 1000, model_mapping and config as JSON text
    "channel": {"id": int, "type": int, "key": str, "status": int, "name": str, "weight": int,
                "created_time": int, "test_time": int, "response_time": int, "base_url": str, "other": str,
                "balance": NUMBER, "balance_updated_time": int, "models": str, "group": str, "used_quota": int,
                "model_mapping": str, "priority": int, "config": str, "system_prompt": str},
    # UsersTable / EditUser / PersonalSetting
    "user": {"id": int, "username": str, "password": str, "display_name": str, "role": int, "status": int,
             "email": str, "github_id": str, "wechat_id": str, "lark_id": str, "access_token": str,
             "quota": int, "used_quota": int, "request_count": int, "group": str, "aff_code": str,
             "inviter_id": int},
    # RedemptionsTable / EditRedemption
    "redemption": {"id": int, "user_id": int, "key": str, "status": int, "name": str, "quota": int,
                   "created_time": int, "redeemed_time": int},
    # LogsTable: renderQuota(quota), model_name, is_stream, elapsed_time
    "log": {"id": int, "user_id": int, "created_at": int, "type": int, "content": str, "username": str,
            "token_name": str, "model_name": str, "quota": int, "prompt_tokens": int, "completion_tokens": int,
            "channel": int, "request_id": str, "elapsed_time": int, "is_stream": bool,
            "system_prompt_reset": bool},
    # Dashboard chart code: item.Day === today, item.Quota / 1000000, PromptTokens + CompletionTokens
    "dashboard": {"Day": str, "ModelName": str, "RequestCount": int, "Quota": int, "PromptTokens": int,
                  "CompletionTokens": int},
    # App.js / Header / Footer / LoginForm / TopUp read these from /api/status
    "status": {"system_name": str, "logo": str, "footer_html": str, "quota_per_unit": NUMBER,
               "display_in_currency": bool, "top_up_link": str, "chat_link": str, "github_oauth": bool,
               "github_client_id": str, "wechat_login": bool, "wechat_qrcode": str, "turnstile_check": bool,
               "turnstile_site_key": str, "email_verification": bool, "server_address": str, "version": str,
               "start_time": int, "lark_client_id": str, "oidc": bool, "oidc_client_id": str,
               "oidc_well_known": str, "oidc_authorization_endpoint": str, "oidc_token_endpoint": str,
               "oidc_userinfo_endpoint": str},
}


def assert_shape(kind: str, value: Any) -> None:
    assert isinstance(value, dict), (kind, value)
    for name, expected in FIELDS[kind].items():
        assert name in value, f"{kind}.{name} is missing: {value}"
        got = value[name]
        ok = isinstance(got, expected) and not (expected is int and isinstance(got, bool))
        assert ok, f"{kind}.{name} should be {expected}, got {got!r}"


class Browser:
    """The frontend's axios: relative /api paths, the session cookie, JSON bodies."""

    def __init__(self, gateway: Gateway, session: aiohttp.ClientSession) -> None:
        self.gateway, self.session = gateway, session

    async def call(self, method: str, path: str, json: Any = None, status: int = 200) -> dict[str, Any]:
        async with self.session.request(method, self.gateway.url + path, json=json,
                                        allow_redirects=False) as resp:
            assert resp.status == status, (method, path, resp.status, await resp.text())
            return await resp.json()

    async def ok(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        answer = await self.call(method, path, json)
        assert answer["success"] is True and isinstance(answer["message"], str), (method, path, answer)
        return answer


@pytest.fixture
async def browser(gateway: Gateway) -> Browser:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    page = Browser(gateway, session)
    login = await page.ok("POST", "/api/user/login", {"username": "root", "password": "123456"})
    assert {"id", "username", "display_name", "role", "status"} <= set(login["data"])
    yield page
    await session.close()


async def test_status_and_home_pages(browser: Browser):
    assert_shape("status", (await browser.ok("GET", "/api/status"))["data"])
    for path in ("/api/notice", "/api/about", "/api/home_page_content"):
        assert isinstance((await browser.ok("GET", path))["data"], str)
    assert isinstance((await browser.ok("GET", "/api/status/"))["data"], dict)


async def test_token_pages(browser: Browser, gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo,gpt-4o")
    models = (await browser.ok("GET", "/api/user/available_models"))["data"]
    assert isinstance(models, list) and {"gpt-3.5-turbo", "gpt-4o"} <= set(models)
    # EditToken's submit for a new token: models joined, remain_quota parsed, expired_time -1
    form = {"name": "web", "remain_quota": 500000, "expired_time": -1, "unlimited_quota": False, "models": "",
            "subnet": ""}
    await browser.ok("POST", "/api/token/", form)
    listed = (await browser.ok("GET", "/api/token/?p=0&order="))["data"]
    assert isinstance(listed, list)
    for token in listed:
        assert_shape("token", token)
    token_id = next(t["id"] for t in listed if t["name"] == "web")
    loaded = (await browser.ok("GET", f"/api/token/{token_id}"))["data"]
    assert_shape("token", loaded)
    assert loaded["models"] == "" and loaded["subnet"] == ""
    # loadToken -> form -> submit: the whole row comes back, models joined again, id added
    edited = {**loaded, "models": "gpt-4o", "name": "web2", "id": token_id}
    assert_shape("token", (await browser.ok("PUT", "/api/token/", edited))["data"])
    assert (await browser.ok("GET", f"/api/token/{token_id}/"))["data"]["models"] == "gpt-4o"
    # TokensTable's enable / disable switch and delete
    switched = await browser.ok("PUT", "/api/token/?status_only=true", {"id": token_id, "status": 2})
    assert switched["data"]["status"] == 2
    searched = (await browser.ok("GET", "/api/token/search?keyword=web"))["data"]
    assert [t["name"] for t in searched] == ["web2"]
    await browser.ok("DELETE", f"/api/token/{token_id}/")
    assert all(t["id"] != token_id for t in (await browser.ok("GET", "/api/token/?p=0"))["data"])


async def test_channel_pages(browser: Browser, fake_openai: FakeOpenAI):
    # EditChannel's submit: models and groups joined, every field of its form
    config = '{"region":"","sk":"","ak":"","user_id":"","vertex_ai_project_id":"","vertex_ai_adc":""}'
    form = {"name": "web", "type": 1, "key": "sk-upstream", "base_url": fake_openai.url, "other": "",
            "model_mapping": "", "models": "gpt-3.5-turbo", "groups": ["default"], "group": "default",
            "config": config}
    await browser.ok("POST", "/api/channel/", form)
    listed = (await browser.ok("GET", "/api/channel/?p=0"))["data"]
    for channel in listed:
        assert_shape("channel", channel)
        assert channel["key"] == ""
    channel_id = listed[0]["id"]
    loaded = (await browser.ok("GET", f"/api/channel/{channel_id}/"))["data"]
    assert_shape("channel", loaded)
    assert loaded["config"] == config and loaded["model_mapping"] == ""
    # EditChannel's submit after loadChannel: the row plus `groups`, lists joined, config re-serialised
    edited = {**loaded, "groups": ["default"], "model_mapping": '{\n  "gpt-3.5-turbo": "gpt-4o"\n}',
              "config": config, "id": channel_id}
    assert_shape("channel", (await browser.ok("PUT", "/api/channel/", edited))["data"])
    assert (await browser.ok("GET", f"/api/channel/{channel_id}"))["data"]["model_mapping"] == edited["model_mapping"]
    for change in ({"status": 2}, {"status": 1}, {"priority": 5}, {"weight": 2}):
        answer = await browser.ok("PUT", "/api/channel/", {"id": channel_id, **change})
        assert isinstance(answer["data"]["status"], int)
    tested = await browser.ok("GET", f"/api/channel/test/{channel_id}/")
    assert isinstance(tested["time"], NUMBER)
    balance = await browser.call("GET", f"/api/channel/update_balance/{channel_id}/")
    assert isinstance(balance["success"], bool) and isinstance(balance["message"], str)
    if balance["success"]:
        assert isinstance(balance["balance"], NUMBER)
    catalogue = await browser.call("GET", "/api/channel/models")  # One API answers OpenAI's list here
    assert catalogue["object"] == "list" and all(isinstance(m["id"], str) for m in catalogue["data"])
    assert isinstance((await browser.ok("GET", "/api/models"))["data"], dict)  # EditChannel: type -> models
    assert [c["id"] for c in (await browser.ok("GET", "/api/channel/search?keyword=web"))["data"]] == [channel_id]
    await browser.ok("PUT", "/api/channel/", {"id": channel_id, "status": 2})
    removed = await browser.ok("DELETE", "/api/channel/disabled")
    assert removed["data"] == 1
    await browser.ok("POST", "/api/channel/", form)
    again = (await browser.ok("GET", "/api/channel/?p=0"))["data"][0]["id"]
    await browser.ok("DELETE", f"/api/channel/{again}/")
    assert (await browser.ok("GET", "/api/channel/?p=0"))["data"] == []


async def test_user_pages(browser: Browser):
    me = (await browser.ok("GET", "/api/user/self"))["data"]
    assert_shape("user", me)
    assert me["password"] == ""
    await browser.ok("POST", "/api/user/", {"username": "webuser", "password": "password123",
                                           "display_name": "Web"})
    for order in ("", "quota", "used_quota", "request_count"):  # UsersTable's sort dropdown
        listed = (await browser.ok("GET", f"/api/user/?p=0&order={order}"))["data"]
        for user in listed:
            assert_shape("user", user)
    user_id = next(u["id"] for u in listed if u["username"] == "webuser")
    loaded = (await browser.ok("GET", f"/api/user/{user_id}/"))["data"]
    assert_shape("user", loaded)
    # EditUser's submit: the loaded row, password blanked, quota parsed, id added
    await browser.ok("PUT", "/api/user/", {**loaded, "quota": 1000, "password": "", "id": user_id})
    assert (await browser.ok("GET", f"/api/user/{user_id}"))["data"]["quota"] == 1000
    await browser.ok("PUT", "/api/user/self", {**me, "display_name": "Root", "password": ""})
    assert (await browser.ok("GET", "/api/user/self"))["data"]["display_name"] == "Root"
    # UsersTable's buttons read role and status from the answer
    for action, role, status in (("promote", 10, 1), ("demote", 1, 1), ("disable", 1, 2), ("enable", 1, 1)):
        managed = await browser.ok("POST", "/api/user/manage", {"username": "webuser", "action": action})
        assert (managed["data"]["role"], managed["data"]["status"]) == (role, status), action
    assert isinstance((await browser.ok("GET", "/api/user/aff"))["data"], str)
    assert isinstance((await browser.ok("GET", "/api/user/token"))["data"], str)
    groups = (await browser.ok("GET", "/api/group/"))["data"]
    assert isinstance(groups, list) and "default" in groups
    await browser.ok("DELETE", f"/api/user/{user_id}/")


async def test_redemption_and_top_up_pages(browser: Browser):
    created = await browser.ok("POST", "/api/redemption/", {"name": "gift", "quota": 1000, "count": 2})
    keys = created["data"]
    assert isinstance(keys, list) and len(keys) == 2 and all(isinstance(k, str) for k in keys)
    listed = (await browser.ok("GET", "/api/redemption/?p=0"))["data"]
    for redemption in listed:
        assert_shape("redemption", redemption)
    loaded = (await browser.ok("GET", f"/api/redemption/{listed[0]['id']}/"))["data"]
    assert_shape("redemption", loaded)
    await browser.ok("PUT", "/api/redemption/", {**loaded, "name": "gift2"})
    assert (await browser.ok("PUT", "/api/redemption/?status_only=true",
                             {"id": loaded["id"], "status": 2}))["data"]["status"] == 2
    topped = await browser.ok("POST", "/api/user/topup", {"key": listed[1]["key"]})
    assert isinstance(topped["data"], int) and topped["data"] == 1000
    await browser.ok("DELETE", f"/api/redemption/{loaded['id']}/")


async def test_log_and_dashboard_pages(browser: Browser, gateway: Gateway, fake_openai: FakeOpenAI):
    await gateway.add_channel(fake_openai.url)
    client = gateway.openai(await gateway.add_token())
    await client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    await gateway.drain()
    # LogsTable's exact queries: empty filters, timestamps from Date.parse (NaN when a date field is cleared)
    filters = f"token_name=&model_name=&start_timestamp=0&end_timestamp={int(time.time()) + 3600}"
    for path in (f"/api/log/?p=0&type=0&username=&{filters}&channel=", f"/api/log/self/?p=0&type=0&{filters}",
                 "/api/log/self/?p=0&type=2&token_name=&model_name=&start_timestamp=NaN&end_timestamp=NaN",
                 "/api/log/search?keyword=", "/api/log/self/search?keyword="):
        logs = (await browser.ok("GET", path))["data"]
        assert isinstance(logs, list) and logs, path
        for log in logs:
            assert_shape("log", log)
    for path in (f"/api/log/stat?type=0&username=&{filters}&channel=", f"/api/log/self/stat?type=0&{filters}"):
        assert isinstance((await browser.ok("GET", path))["data"]["quota"], int)
    rows = (await browser.ok("GET", "/api/user/dashboard"))["data"]
    assert len(rows) == 1
    assert_shape("dashboard", rows[0])
    assert rows[0]["ModelName"] == "gpt-3.5-turbo" and rows[0]["RequestCount"] == 1


async def test_settings_pages(browser: Browser):
    options = (await browser.ok("GET", "/api/option/"))["data"]
    assert isinstance(options, list) and options
    assert all(set(o) == {"key", "value"} and isinstance(o["value"], str) for o in options)
    # SystemSetting / OperationSetting send every value as a string, booleans as "true" / "false"
    sent = {"QuotaRemindThreshold": "1000", "LogConsumeEnabled": "true", "AutomaticDisableChannelEnabled": "false",
            "ChannelDisableThreshold": "5.5", "RetryTimes": "2", "QuotaForNewUser": "100",
            "GroupRatio": '{\n  "default": 1,\n  "vip": 1\n}', "ModelRatio": '{"gpt-4o": 2.5}',
            "TopUpLink": "https://shop.example", "Notice": "# hello"}
    for key, value in sent.items():
        await browser.ok("PUT", "/api/option/", {"key": key, "value": value})
    stored = {o["key"]: o["value"] for o in (await browser.ok("GET", "/api/option/"))["data"]}
    assert {key: stored[key] for key in sent} == sent
    assert sorted((await browser.ok("GET", "/api/group/"))["data"]) == ["default", "vip"]
    assert (await browser.ok("GET", "/api/status"))["data"]["top_up_link"] == "https://shop.example"
    assert (await browser.ok("GET", "/api/notice"))["data"] == "# hello"
    await browser.ok("DELETE", "/api/log/?target_timestamp=1")


async def test_slash_and_no_slash_forms_reach_the_same_handler(browser: Browser):
    for path in ("/api/user/self", "/api/token", "/api/token/", "/api/log/self/?p=0", "/api/log/self?p=0",
                 "/api/option", "/api/group", "/api/channel", "/api/redemption"):
        assert (await browser.call("GET", path))["success"] is True, path
    await browser.call("GET", "/api/user/logout/")
    refused = await browser.call("GET", "/api/user/self", status=401)
    assert refused["success"] is False


async def test_rows_made_with_the_fewest_fields_read_as_go_zero_values(browser: Browser, gateway: Gateway):
    """Scripts create rows with a few fields; the pages still get "" and 0, never null, where they read them."""
    channel = await gateway.api("POST", "/api/channel/", {"name": "bare", "type": 1, "key": "k", "models": "m"})
    assert channel["success"], channel
    user = await gateway.api("POST", "/api/user/", {"username": "bareuser", "password": "password123"})
    assert user["success"], user
    token = await gateway.api("POST", "/api/token/", {"name": "bare"})
    assert token["success"], token
    assert_shape("channel", (await browser.ok("GET", "/api/channel/?p=0"))["data"][0])
    assert_shape("token", next(t for t in (await browser.ok("GET", "/api/token/"))["data"] if t["name"] == "bare"))
    assert_shape("user", (await browser.ok("GET", "/api/user/search?keyword=bareuser"))["data"][0])
    redemption = await gateway.api("POST", "/api/redemption/", {"name": "bare", "quota": 1})
    assert redemption["success"], redemption
    assert_shape("redemption", (await browser.ok("GET", "/api/redemption/search?keyword=bare"))["data"][0])


async def test_a_common_users_pages(browser: Browser, gateway: Gateway):
    """PersonalSetting, TopUp and the token page as a role-1 user; admin pages answer with a message to show."""
    await browser.ok("POST", "/api/user/", {"username": "plainuser", "password": "password123"})
    code = (await browser.ok("POST", "/api/redemption/", {"name": "gift", "quota": 700, "count": 1}))["data"][0]
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        user = Browser(gateway, session)
        login = (await user.ok("POST", "/api/user/login?turnstile=", {"username": "plainuser",
                                                                     "password": "password123"}))["data"]
        assert (login["username"], login["role"], login["status"]) == ("plainuser", 1, 1)
        me = (await user.ok("GET", "/api/user/self"))["data"]
        assert_shape("user", me)
        assert me["access_token"] == ""
        token = (await user.ok("GET", "/api/user/token"))["data"]
        assert isinstance(token, str) and len(token) == 32
        aff = (await user.ok("GET", "/api/user/aff"))["data"]
        assert isinstance(aff, str) and aff
        assert (await user.ok("POST", "/api/user/topup", {"key": code}))["data"] == 700
        assert (await user.ok("GET", "/api/user/self"))["data"]["quota"] == me["quota"] + 700
        assert isinstance((await user.ok("GET", "/api/user/dashboard"))["data"], list)
        for path in ("/api/channel/?p=0", "/api/user/?p=0", "/api/redemption/?p=0", "/api/log/?p=0",
                     "/api/option/"):
            refused = await user.call("GET", path)
            assert refused["success"] is False and isinstance(refused["message"], str), path
        assert (await user.ok("DELETE", "/api/user/self"))["success"]
        await user.call("GET", "/api/user/logout")
    finally:
        await session.close()
