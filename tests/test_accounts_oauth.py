"""Third-party sign-in end to end: the browser asks for a state, the fake provider hands out a code, the
gateway's callback exchanges it with the provider's real protocol and signs in, signs up or binds."""

from __future__ import annotations

import pytest

from tests.accounts_util import browser, call, set_options
from tests.fakes.oauth_providers import CLIENT_ID, CLIENT_SECRET, FakeGitHub, FakeLark, FakeOIDC, FakeWeChatServer

SERVER = "https://gw.example.com"


@pytest.fixture
async def github(serve_fake) -> FakeGitHub:
    return await serve_fake(FakeGitHub())


async def github_gateway(make_gateway, github: FakeGitHub, **env: str):
    gateway = await make_gateway(GITHUB_BASE_URL=github.url, GITHUB_API_BASE_URL=github.url, **env)
    await set_options(gateway, GitHubClientId=CLIENT_ID, GitHubClientSecret=CLIENT_SECRET, GitHubOAuthEnabled=True)
    return gateway


async def callback(session, gateway, provider: str, code: str, state: str | None = None) -> dict:
    if state is None:
        state = (await call(session, gateway, "GET", "/api/oauth/state"))["data"]
    return await call(session, gateway, "GET", f"/api/oauth/{provider}?code={code}&state={state}")


async def test_github_signs_up_then_signs_in(make_gateway, github: FakeGitHub):
    gateway = await github_gateway(make_gateway, github)
    profile = {"login": "octocat", "name": "The Octocat", "email": "octo@example.com"}
    async with browser() as session:
        first = await callback(session, gateway, "github", github.issue_code(profile))
        assert first["success"], first
        assert first["data"]["username"].startswith("github_") and first["data"]["display_name"] == "The Octocat"
        me = await call(session, gateway, "GET", "/api/user/self")
        assert me["data"]["github_id"] == "octocat" and me["data"]["email"] == "octo@example.com"
        assert github.grants[-1] == {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                     "code": github.grants[-1]["code"]}
    async with browser() as other:
        again = await callback(other, gateway, "github", github.issue_code(profile))
        assert again["success"] and again["data"]["id"] == first["data"]["id"], "the same GitHub account signs in"


async def test_github_refusals(make_gateway, github: FakeGitHub):
    gateway = await github_gateway(make_gateway, github)
    profile = {"login": "mallory", "name": "", "email": ""}
    async with browser() as session, browser() as attacker:
        # the state must be the one issued to this browser, once
        issued = (await call(session, gateway, "GET", "/api/oauth/state"))["data"]
        async with attacker.get(f"{gateway.url}/api/oauth/github?code=x&state={issued}") as resp:
            assert resp.status == 403 and (await resp.json())["message"] == "state is empty or not same"
        async with session.get(f"{gateway.url}/api/oauth/github?code=x&state=") as resp:
            assert resp.status == 403
        code = github.issue_code(profile)
        assert (await callback(session, gateway, "github", code, issued))["success"]
        async with session.get(f"{gateway.url}/api/oauth/github?code={code}&state={issued}") as resp:
            assert resp.status == 403, "a state is used once"
        await call(session, gateway, "GET", "/api/user/logout")
        reused = await callback(session, gateway, "github", code)
        assert reused == {"success": False, "message": "The code passed is incorrect or expired."}

        await set_options(gateway, GitHubClientSecret="not-the-secret")
        wrong_secret = await callback(session, gateway, "github", github.issue_code(profile))
        assert wrong_secret["success"] is False and "client_secret" in wrong_secret["message"]
        await set_options(gateway, GitHubClientSecret=CLIENT_SECRET, RegisterEnabled=False)
        closed = await callback(session, gateway, "github", github.issue_code({**profile, "login": "newbie"}))
        assert closed == {"success": False, "message": "管理员关闭了新用户注册"}
        await set_options(gateway, GitHubOAuthEnabled=False)
        off = await callback(session, gateway, "github", github.issue_code(profile))
        assert off == {"success": False, "message": "管理员未开启通过 GitHub 登录以及注册"}


async def test_github_binds_to_the_signed_in_user_and_a_banned_user_stays_out(make_gateway, github: FakeGitHub):
    gateway = await github_gateway(make_gateway, github)
    user = await gateway.add_user("jane")
    async with browser() as session:
        assert (await call(session, gateway, "POST", "/api/user/login",
                           json={"username": "jane", "password": "password123"}))["success"]
        bound = await callback(session, gateway, "github", github.issue_code({"login": "jane-gh"}))
        assert bound == {"success": True, "message": "bind"}
        assert (await call(session, gateway, "GET", "/api/user/self"))["data"]["github_id"] == "jane-gh"
    async with browser() as session:
        other = await gateway.add_user("kate")
        assert (await call(session, gateway, "POST", "/api/user/login",
                           json={"username": "kate", "password": "password123"}))["success"]
        taken = await callback(session, gateway, "github", github.issue_code({"login": "jane-gh"}))
        assert taken == {"success": False, "message": "该 GitHub 账户已被绑定"}
        assert other["id"] != user["id"]
    assert (await gateway.api("POST", "/api/user/manage", {"username": "jane", "action": "disable"}))["success"]
    async with browser() as session:
        banned = await callback(session, gateway, "github", github.issue_code({"login": "jane-gh"}))
        assert banned == {"success": False, "message": "用户已被封禁"}


async def test_the_state_issued_by_one_node_is_accepted_by_another(make_gateway, github: FakeGitHub, sql_dsn: str):
    node_a = await github_gateway(make_gateway, github, SQL_DSN=sql_dsn)
    node_b = await github_gateway(make_gateway, github, SQL_DSN=sql_dsn)
    async with browser() as session:
        state = (await call(session, node_a, "GET", "/api/oauth/state"))["data"]
        signed_in = await callback(session, node_b, "github", github.issue_code({"login": "roamer"}), state)
        assert signed_in["success"], signed_in
        async with session.get(f"{node_a.url}/api/oauth/github?code=x&state={state}") as resp:
            assert resp.status == 403, "used on node B, gone on node A"


async def test_unreachable_github_is_a_clear_message(make_gateway, github: FakeGitHub):
    gateway = await github_gateway(make_gateway, github)
    gateway_down = await make_gateway(GITHUB_BASE_URL="http://127.0.0.1:9", GITHUB_API_BASE_URL="http://127.0.0.1:9")
    await set_options(gateway_down, GitHubClientId=CLIENT_ID, GitHubClientSecret=CLIENT_SECRET,
                      GitHubOAuthEnabled=True)
    async with browser() as session:
        down = await callback(session, gateway_down, "github", "abc")
        assert down["success"] is False and down["message"].startswith("无法连接至 GitHub 服务器"), down
        empty = await callback(session, gateway, "github", "")
        assert empty == {"success": False, "message": "无效的参数"}


async def test_lark(make_gateway, serve_fake):
    lark = await serve_fake(FakeLark(redirect_uri=f"{SERVER}/oauth/lark"))
    gateway = await make_gateway(LARK_BASE_URL=lark.url)
    async with browser() as session:
        off = await callback(session, gateway, "lark", "x")
        assert off == {"success": False, "message": "管理员未开启通过飞书登录以及注册"}
        await set_options(gateway, LarkClientId=CLIENT_ID, LarkClientSecret=CLIENT_SECRET, ServerAddress=SERVER)
        signed = await callback(session, gateway, "lark", lark.issue_code({"open_id": "ou_abc", "name": "飞书用户"}))
        assert signed["success"] and signed["data"]["display_name"] == "飞书用户", signed
        assert (await call(session, gateway, "GET", "/api/user/self"))["data"]["lark_id"] == "ou_abc"
        await set_options(gateway, ServerAddress="https://elsewhere.example.com")
        await call(session, gateway, "GET", "/api/user/logout")
        mismatch = await callback(session, gateway, "lark", lark.issue_code({"open_id": "ou_abc"}))
        assert mismatch == {"success": False, "message": "lark refused: redirect_uri_mismatch"}


@pytest.mark.parametrize("discovery", [True, False])
async def test_oidc(make_gateway, serve_fake, discovery: bool):
    provider = await serve_fake(FakeOIDC(redirect_uri=f"{SERVER}/oauth/oidc"))
    gateway = await make_gateway()
    endpoints = ({"OidcWellKnown": provider.well_known} if discovery else
                 {"OidcTokenEndpoint": f"{provider.url}/oauth2/token",
                  "OidcUserinfoEndpoint": f"{provider.url}/oauth2/userinfo"})
    await set_options(gateway, OidcClientId=CLIENT_ID, OidcClientSecret=CLIENT_SECRET, ServerAddress=SERVER,
                      OidcEnabled=True, **endpoints)
    profile = {"sub": "subject-1", "name": "Olivia", "email": "olivia@example.com", "preferred_username": "olivia"}
    async with browser() as session:
        signed = await callback(session, gateway, "oidc", provider.issue_code(profile))
        assert signed["success"], signed
        assert signed["data"]["username"] == "olivia" and signed["data"]["display_name"] == "Olivia"
        me = (await call(session, gateway, "GET", "/api/user/self"))["data"]
        assert me["oidc_id"] == "subject-1" and me["email"] == "olivia@example.com"
        await call(session, gateway, "GET", "/api/user/logout")
        bad = await callback(session, gateway, "oidc", "not-a-code")
        assert bad == {"success": False, "message": "oidc refused: invalid_grant"}


async def test_oidc_without_endpoints_says_so(make_gateway):
    gateway = await make_gateway()
    await set_options(gateway, OidcClientId=CLIENT_ID, OidcEnabled=True)
    async with browser() as session:
        answer = await callback(session, gateway, "oidc", "code")
        assert answer["success"] is False and "OidcWellKnown" in answer["message"], answer


async def test_wechat_sign_in_and_bind(make_gateway, serve_fake):
    server = await serve_fake(FakeWeChatServer())
    gateway = await make_gateway()
    async with browser() as session:
        off = await call(session, gateway, "GET", "/api/oauth/wechat?code=123")
        assert off == {"success": False, "message": "管理员未开启通过微信登录以及注册"}
        await set_options(gateway, WeChatServerAddress=server.url, WeChatServerToken=server.token,
                          WeChatAuthEnabled=True)
        signed = await call(session, gateway, "GET", f"/api/oauth/wechat?code={server.issue_code('wx-1')}")
        assert signed["success"] and signed["data"]["username"].startswith("wechat_"), signed
        assert signed["data"]["display_name"] == "WeChat User"
        expired = await call(session, gateway, "GET", "/api/oauth/wechat?code=nope")
        assert expired == {"success": False, "message": "验证码错误或已过期"}
    user = await gateway.add_user("leo")
    bound = await gateway.api("GET", f"/api/oauth/wechat/bind?code={server.issue_code('wx-2')}",
                              token=user["access_token"])
    assert bound == {"success": True, "message": ""}
    taken = await gateway.api("GET", f"/api/oauth/wechat/bind?code={server.issue_code('wx-1')}",
                              token=user["access_token"])
    assert taken == {"success": False, "message": "该微信账号已被绑定"}
    await set_options(gateway, WeChatServerToken="wrong")
    refused = await gateway.api("GET", f"/api/oauth/wechat?code={server.issue_code('wx-3')}", token="")
    assert refused == {"success": False, "message": "无权进行此操作，Token 无效"}


async def test_unbinding_keeps_a_way_back_in(make_gateway, github: FakeGitHub):
    gateway = await github_gateway(make_gateway, github)
    async with browser() as session:
        assert (await callback(session, gateway, "github", github.issue_code({"login": "solo"})))["success"]
        alone = await call(session, gateway, "POST", "/api/user/unbind", json={"kind": "github"})
        assert alone == {"success": False, "message": "解绑后将无法找回账号：请先绑定邮箱或其他登录方式"}
        me = (await call(session, gateway, "GET", "/api/user/self"))["data"]
        assert (await gateway.api("PUT", "/api/user/", {**me, "email": "solo@example.com", "password": ""}))["success"]
        page = await session.get(f"{gateway.url}/setting")
        assert 'data-unbind="github"' in await page.text() and 'data-unbind="lark"' not in await page.text()
        assert (await call(session, gateway, "POST", "/api/user/unbind", json={"kind": "github"}))["success"]
        assert (await call(session, gateway, "GET", "/api/user/self"))["data"]["github_id"] == ""
        again = await call(session, gateway, "POST", "/api/user/unbind", json={"kind": "github"})
        assert again == {"success": False, "message": "尚未绑定"}
        bad = await call(session, gateway, "POST", "/api/user/unbind", json={"kind": "password"})
        assert bad["success"] is False
