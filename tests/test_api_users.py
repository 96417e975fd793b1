"""/api/user/*: login and sessions, self service, registration with invites, and admin management per role."""

from __future__ import annotations

import aiohttp

from oneapi.constants import LogType
from tests.conftest import ROOT_ACCESS_TOKEN


async def _login(gateway, username: str, password: str) -> tuple[aiohttp.ClientSession, dict]:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # accept 127.0.0.1's cookie
    async with session.post(gateway.url + "/api/user/login", json={"username": username, "password": password}) as r:
        return session, await r.json()


async def test_login_sets_a_session_that_authenticates_and_logout_clears_it(gateway):
    user = await gateway.add_user("alice", password="password123")
    session, body = await _login(gateway, "alice", "password123")
    async with session:
        assert body["success"] is True
        data = body["data"]
        assert {k: data[k] for k in ("id", "username", "display_name", "role", "status")} == {
            "id": user["id"], "username": "alice", "display_name": "alice", "role": 1, "status": 1}
        assert data["quota"] == 0 and data["password"] == "" and data["access_token"] == ""
        async with session.get(gateway.url + "/api/user/self") as r:
            me = await r.json()
        assert me["success"] and me["data"]["username"] == "alice"
        assert me["data"]["password"] == "" and me["data"]["access_token"] == ""
        assert me["data"]["quota"] == 10**9  # set by add_user's PUT
        async with session.get(gateway.url + "/api/user/logout") as r:
            assert (await r.json())["success"]
        async with session.get(gateway.url + "/api/user/self") as r:
            assert r.status == 401
            assert (await r.json()) == {"success": False, "message": "无权进行此操作，未登录且未提供 access token"}


async def test_login_refusals(gateway):
    await gateway.add_user("bob", password="password123")
    for body in ({"username": "bob", "password": "wrong-password"}, {"username": "nobody", "password": "x" * 8}):
        session, answer = await _login(gateway, body["username"], body["password"])
        await session.close()
        assert answer == {"success": False, "message": "用户名或密码错误，或用户已被封禁"}
    async with gateway.http.post(gateway.url + "/api/user/login", data=b"not json") as r:
        assert (await r.json()) == {"success": False, "message": "无效的参数"}
    await gateway.api("POST", "/api/user/manage", {"username": "bob", "action": "disable"})
    session, answer = await _login(gateway, "bob", "password123")
    await session.close()
    assert answer["message"] == "用户名或密码错误，或用户已被封禁"
    await gateway.api("PUT", "/api/option/", {"key": "PasswordLoginEnabled", "value": "false"})
    session, answer = await _login(gateway, "root", "123456")
    await session.close()
    assert answer == {"success": False, "message": "管理员关闭了密码登录"}


async def test_login_by_email(gateway):
    user = await gateway.add_user("carol")
    user.update(email="carol@example.com")
    assert (await gateway.api("PUT", "/api/user/", user))["success"]
    session, answer = await _login(gateway, "carol@example.com", "password123")
    await session.close()
    assert answer["success"] and answer["data"]["username"] == "carol"


async def test_access_token_regenerates_and_the_old_one_stops_working(gateway):
    user = await gateway.add_user()
    first = user["access_token"]
    assert len(first) == 32 and int(first, 16) >= 0
    me = await gateway.api("GET", "/api/user/self", token=first)
    assert me["data"]["id"] == user["id"]
    second = (await gateway.api("GET", "/api/user/token", token=first))["data"]
    assert second != first
    assert (await gateway.api("GET", "/api/user/self", token=first)) == {
        "success": False, "message": "无权进行此操作，access token 无效"}
    assert (await gateway.api("GET", "/api/user/self", token="Bearer " + second))["success"]


async def test_admin_create_search_get_and_update_including_quota_zero(gateway):
    created = await gateway.api("POST", "/api/user/", {"username": "dave", "password": "password123"})
    assert created == {"success": True, "message": ""}
    found = (await gateway.api("GET", "/api/user/search?keyword=dav"))["data"]
    assert [u["username"] for u in found] == ["dave"]
    dave = found[0]
    assert dave["display_name"] == "dave" and dave["role"] == 1 and dave["group"] == "default"
    assert dave["access_token"] == "" and dave["password"] == ""
    by_id = await gateway.api("GET", f"/api/user/search?keyword={dave['id']}")
    assert [u["id"] for u in by_id["data"]] == [dave["id"]]

    dave.update(quota=5000, group="vip", display_name="Dave D")
    updated = await gateway.api("PUT", "/api/user/", dave)
    assert updated["success"], updated
    got = (await gateway.api("GET", f"/api/user/{dave['id']}"))["data"]
    assert (got["quota"], got["group"], got["display_name"]) == (5000, "vip", "Dave D")
    dave.update(quota=0)  # One API could not do this (a zero value was skipped)
    assert (await gateway.api("PUT", "/api/user/", dave))["success"]
    assert (await gateway.api("GET", f"/api/user/{dave['id']}"))["data"]["quota"] == 0
    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/?type={int(LogType.MANAGE)}&username=dave"))["data"]
    assert [entry["content"] for entry in logs] == [
        "管理员将用户额度从 ＄0.010000 额度修改为 ＄0.000000 额度",
        "管理员将用户额度从 ＄0.000000 额度修改为 ＄0.010000 额度",
    ]

    duplicate = await gateway.api("POST", "/api/user/", {"username": "dave", "password": "password123"})
    assert duplicate == {"success": False, "message": "用户名 dave 已被占用"}
    invalid = await gateway.api("POST", "/api/user/", {"username": "x" * 13, "password": "password123"})
    assert not invalid["success"] and invalid["message"].startswith("输入不合法")
    short = await gateway.api("POST", "/api/user/", {"username": "eve", "password": "short"})
    assert not short["success"] and short["message"].startswith("输入不合法")
    assert (await gateway.api("POST", "/api/user/", {"username": "eve"})) == {"success": False,
                                                                           "message": "无效的参数"}


async def test_quota_set_by_admin_is_what_the_relay_sees(gateway, fake_openai):
    user = await gateway.add_user(quota=0)
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token(user["access_token"])
    client = gateway.openai(key)
    try:
        await client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("a user without quota was served")
    except Exception as exc:  # openai.PermissionDeniedError
        assert "quota" in str(exc)
    user.update(quota=10**7, password="")
    assert (await gateway.api("PUT", "/api/user/", user))["success"]
    reply = await client.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello from fake"


async def test_admin_listing_hides_access_tokens_and_passwords_and_pages_by_ten(gateway):
    for i in range(11):
        assert (await gateway.api("POST", "/api/user/", {"username": f"p{i:02d}", "password": "password123"}))[
            "success"]
    first = (await gateway.api("GET", "/api/user/?p=0"))["data"]
    second = (await gateway.api("GET", "/api/user/?p=1"))["data"]
    assert len(first) == 10 and len(second) == 2  # 11 users + root
    assert [u["id"] for u in first] == sorted((u["id"] for u in first), reverse=True)
    assert second[-1]["username"] == "root"
    assert all(u["access_token"] == "" and u["password"] == "" for u in first + second)
    assert (await gateway.api("GET", "/api/user/?p=-3"))["data"] == first
    root_user = next(u for u in second if u["username"] == "root")
    root_user.update(quota=1)
    await gateway.api("PUT", "/api/user/", root_user)
    by_quota = (await gateway.api("GET", "/api/user/?order=quota"))["data"]
    assert by_quota[0]["username"] == "root"  # quota 1; everyone else has 0
    assert [u["quota"] for u in by_quota] == [1] + [0] * 9


async def test_roles_common_admin_root(gateway):
    common = await gateway.add_user("common1")
    admin = await gateway.add_user("admin1")
    promoted = await gateway.api("POST", "/api/user/manage", {"username": "admin1", "action": "promote"})
    assert promoted == {"success": True, "message": "", "data": {"role": 10, "status": 1}}
    other = await gateway.add_user("common2")
    denied = {"success": False, "message": "无权进行此操作，权限不足"}
    for method, path in (("GET", "/api/user/"), ("GET", "/api/user/search?keyword=a"), ("POST", "/api/user/"),
                         ("GET", f"/api/user/{other['id']}"), ("POST", "/api/user/manage"),
                         ("DELETE", f"/api/user/{other['id']}"), ("POST", "/api/topup"), ("GET", "/api/option/"),
                         ("GET", "/api/channel/"), ("GET", "/api/log/"), ("GET", "/api/redemption/"),
                         ("GET", "/api/group/")):
        assert await gateway.api(method, path, {}, token=common["access_token"]) == denied, path
    admin_token = admin["access_token"]
    # an admin manages common users but not peers or root, and cannot promote
    assert (await gateway.api("GET", f"/api/user/{other['id']}", token=admin_token))["success"]
    root_id = (await gateway.api("GET", "/api/user/search?keyword=root"))["data"][0]["id"]
    assert (await gateway.api("GET", f"/api/user/{root_id}", token=admin_token)) == {
        "success": False, "message": "无权获取同级或更高等级用户的信息"}
    assert (await gateway.api("POST", "/api/user/manage", {"username": "common2", "action": "promote"},
                              token=admin_token)) == {"success": False,
                                                      "message": "普通管理员用户无法提升其他用户为管理员"}
    assert (await gateway.api("POST", "/api/user/manage", {"username": "root", "action": "disable"},
                              token=admin_token))["message"] == "无权更新同权限等级或更高权限等级的用户信息"
    assert (await gateway.api("GET", "/api/option/", token=admin_token)) == denied
    assert (await gateway.api("POST", "/api/user/", {"username": "a2", "password": "password123", "role": 10},
                              token=admin_token)) == {"success": False, "message": "无法创建权限大于等于自己的用户"}
    other.update(role=10, password="")
    assert (await gateway.api("PUT", "/api/user/", other, token=admin_token))["message"] == (
        "无权将其他用户权限等级提升到大于等于自己的权限等级")
    # root can never be disabled, deleted or demoted, not even by root
    for action, message in (("disable", "无法禁用超级管理员用户"), ("delete", "无法删除超级管理员用户"),
                            ("demote", "无法降级超级管理员用户")):
        assert (await gateway.api("POST", "/api/user/manage", {"username": "root", "action": action})) == {
            "success": False, "message": message}
    assert (await gateway.api("DELETE", f"/api/user/{root_id}"))["message"] == "无权删除同权限等级或更高权限等级的用户"
    assert (await gateway.api("DELETE", "/api/user/self")) == {"success": False, "message": "不能删除超级管理员账户"}
    # demote, disable, enable and delete as admin on a common user; the effect is immediate
    assert (await gateway.api("POST", "/api/user/manage", {"username": "common1", "action": "disable"},
                              token=admin_token))["data"] == {"role": 1, "status": 2}
    assert (await gateway.api("GET", "/api/user/self", token=common["access_token"])) == {
        "success": False, "message": "用户已被封禁"}
    assert (await gateway.api("POST", "/api/user/manage", {"username": "common1", "action": "enable"},
                              token=admin_token))["data"] == {"role": 1, "status": 1}
    assert (await gateway.api("POST", "/api/user/manage", {"username": "admin1", "action": "demote"}))[
        "data"] == {"role": 1, "status": 1}
    assert (await gateway.api("GET", "/api/user/", token=admin_token)) == denied
    assert (await gateway.api("POST", "/api/user/manage", {"username": "ghost", "action": "enable"}))[
        "message"] == "用户不存在"


async def test_delete_user_answers_success_and_frees_the_username(gateway, fake_openai):
    user = await gateway.add_user("frank")
    await gateway.add_channel(fake_openai.url)
    key = await gateway.add_token(user["access_token"])
    assert await gateway.api("DELETE", f"/api/user/{user['id']}") == {"success": True, "message": ""}
    listed = (await gateway.api("GET", "/api/user/"))["data"]
    assert all(u["id"] != user["id"] for u in listed)
    searched = (await gateway.api("GET", f"/api/user/search?keyword={user['id']}"))["data"]
    assert searched[0]["status"] == 3 and searched[0]["username"].startswith("deleted_")
    async with gateway.http.post(gateway.url + "/v1/chat/completions", headers={"Authorization": key},
                                 json={"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "x"}]}) as r:
        assert r.status == 403
    assert (await gateway.api("POST", "/api/user/", {"username": "frank", "password": "password123"}))["success"]


async def test_self_update_and_self_delete(gateway):
    user = await gateway.add_user("gina")
    session, _ = await _login(gateway, "gina", "password123")
    async with session:
        async with session.put(gateway.url + "/api/user/self",
                               json={"username": "gina2", "display_name": "G", "password": ""}) as r:
            assert (await r.json())["success"]
        async with session.get(gateway.url + "/api/user/self") as r:  # the cookie follows the rename
            me = (await r.json())["data"]
        assert (me["username"], me["display_name"]) == ("gina2", "G")
        async with session.put(gateway.url + "/api/user/self", json={"password": "short"}) as r:
            assert (await r.json())["message"].startswith("输入不合法")
        async with session.put(gateway.url + "/api/user/self", json={"password": "newpassword1"}) as r:
            assert (await r.json())["success"]
    session, answer = await _login(gateway, "gina2", "newpassword1")
    await session.close()
    assert answer["success"]
    assert (await gateway.api("DELETE", "/api/user/self", token=user["access_token"]))["success"]
    session, answer = await _login(gateway, "gina2", "newpassword1")
    await session.close()
    assert not answer["success"]


async def test_cookie_writes_from_another_site_are_refused(gateway):
    await gateway.add_user("hank")
    session, _ = await _login(gateway, "hank", "password123")
    async with session:
        async with session.put(gateway.url + "/api/user/self", json={"display_name": "evil"},
                               headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with session.get(gateway.url + "/api/user/self") as r:
            assert (await r.json())["data"]["display_name"] == "hank"


async def test_register_with_invite_code_rewards_both_sides_with_system_logs(gateway):
    for key, value in (("QuotaForNewUser", "100"), ("QuotaForInvitee", "20"), ("QuotaForInviter", "30"),
                       ("DisplayInCurrencyEnabled", "false")):
        assert (await gateway.api("PUT", "/api/option/", {"key": key, "value": value}))["success"]
    inviter = await gateway.add_user("inviter", quota=1000)
    aff = (await gateway.api("GET", "/api/user/aff", token=inviter["access_token"]))["data"]
    assert len(aff) == 4 and aff == (await gateway.api("GET", "/api/user/aff", token=inviter["access_token"]))["data"]
    async with gateway.http.post(gateway.url + "/api/user/register",
                                 json={"username": "newbie", "password": "password123", "aff_code": aff}) as r:
        assert (await r.json()) == {"success": True, "message": ""}
    newbie = (await gateway.api("GET", "/api/user/search?keyword=newbie"))["data"][0]
    assert newbie["quota"] == 120 and newbie["inviter_id"] == inviter["id"] and newbie["display_name"] == "newbie"
    assert (await gateway.api("GET", f"/api/user/{inviter['id']}"))["data"]["quota"] == 1030
    await gateway.drain()
    system = (await gateway.api("GET", f"/api/log/?type={int(LogType.SYSTEM)}"))["data"]
    contents = {(entry["username"], entry["content"]) for entry in system}
    assert {("newbie", "新用户注册赠送 100 点额度"), ("newbie", "使用邀请码赠送 20 点额度"),
            ("inviter", "邀请用户赠送 30 点额度")} <= contents
    # the new user can log in and got a default token
    token = await gateway.login_access_token("newbie", "password123")
    tokens = (await gateway.api("GET", "/api/token/", token=token))["data"]
    assert [(t["name"], t["unlimited_quota"]) for t in tokens] == [("default", True)]


async def test_register_refusals(gateway):
    async def register(body: dict) -> dict:
        async with gateway.http.post(gateway.url + "/api/user/register", json=body) as r:
            return await r.json()

    assert (await register({"username": "u1", "password": "short"}))["message"].startswith("输入不合法")
    assert (await register({"username": "u1", "password": "password123", "aff_code": "zzzz"}))["success"]
    assert (await register({"username": "u1", "password": "password123"}))["message"] == "用户名 u1 已被占用"
    await gateway.api("PUT", "/api/option/", {"key": "EmailVerificationEnabled", "value": "true"})
    assert (await register({"username": "u2", "password": "password123"}))["message"] == (
        "管理员开启了邮箱验证，请输入邮箱地址和验证码")
    await gateway.api("PUT", "/api/option/", {"key": "PasswordRegisterEnabled", "value": "false"})
    assert (await register({"username": "u2", "password": "password123"}))["message"].startswith(
        "管理员关闭了通过密码进行注册")
    await gateway.api("PUT", "/api/option/", {"key": "RegisterEnabled", "value": "false"})
    assert (await register({"username": "u2", "password": "password123"}))["message"] == "管理员关闭了新用户注册"


async def test_register_with_turnstile_on_needs_a_token(gateway):
    await gateway.api("PUT", "/api/option/", {"key": "TurnstileSiteKey", "value": "site"})
    assert (await gateway.api("PUT", "/api/option/", {"key": "TurnstileCheckEnabled", "value": "true"}))["success"]
    async with gateway.http.post(gateway.url + "/api/user/register",
                                 json={"username": "t1", "password": "password123"}) as r:
        assert (await r.json()) == {"success": False, "message": "Turnstile token 为空"}


async def test_admin_top_up_writes_a_topup_log(gateway):
    user = await gateway.add_user("ivan", quota=100)
    answer = await gateway.api("POST", "/api/topup", {"user_id": user["id"], "quota": 500, "remark": "invoice 7"})
    assert answer["success"], answer
    assert (await gateway.api("POST", "/api/topup", {"user_id": user["id"], "quota": 250}))["success"]
    assert (await gateway.api("POST", "/api/topup", {"user_id": user["id"], "quota": -5}))["success"] is False
    assert (await gateway.api("POST", "/api/topup", {"user_id": 99999, "quota": 5}))["message"] == "用户不存在"
    assert (await gateway.api("GET", "/api/user/self", token=user["access_token"]))["data"]["quota"] == 850
    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/self?type={int(LogType.TOPUP)}", token=user["access_token"]))["data"]
    assert [(entry["content"], entry["quota"], entry["id"]) for entry in logs] == [
        ("通过 API 充值 ＄0.000500 额度", 250, 0), ("invoice 7", 500, 0)]


async def test_unauthenticated_and_bad_tokens(gateway):
    async with gateway.http.get(gateway.url + "/api/user/self") as r:
        assert r.status == 401
    invalid = await gateway.api("GET", "/api/user/self", token="f" * 32)
    assert invalid == {"success": False, "message": "无权进行此操作，access token 无效"}
    assert (await gateway.api("GET", "/api/user/self", token=ROOT_ACCESS_TOKEN))["data"]["username"] == "root"
