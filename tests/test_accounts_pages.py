"""The sign-in page offers exactly the enabled methods, sending the browser to the configured providers,
and the personal settings page offers binding for each of them."""

from __future__ import annotations

import re

from tests.accounts_util import browser, set_options
from tests.fakes.oauth_providers import CLIENT_ID, FakeOIDC, FakeWeChatServer


def buttons(html: str) -> dict[str, str]:
    """data-oauth -> data-authorize of every sign-in/binding button on the page."""
    found = {}
    for tag in re.findall(r"<button[^>]*data-oauth=[^>]*>", html):
        provider = re.search(r'data-oauth="([^"]+)"', tag).group(1)
        authorize = re.search(r'data-authorize="([^"]*)"', tag)
        found[provider] = authorize.group(1) if authorize else ""
    return found


async def page(session, gateway, path: str) -> str:
    async with session.get(gateway.url + path) as resp:
        assert resp.status == 200, (path, resp.status)
        return await resp.text()


async def test_sign_in_page_shows_the_enabled_methods(make_gateway, serve_fake):
    oidc = await serve_fake(FakeOIDC())
    wechat = await serve_fake(FakeWeChatServer())
    gateway = await make_gateway(GITHUB_BASE_URL="https://ghe.example.com", LARK_BASE_URL="https://lark.example.com")
    async with browser() as session:
        assert buttons(await page(session, gateway, "/login")) == {}
        assert buttons(await page(session, gateway, "/register")) == {}
        await set_options(gateway, GitHubClientId=CLIENT_ID, GitHubOAuthEnabled=True, OidcClientId=CLIENT_ID,
                          OidcWellKnown=oidc.well_known, OidcEnabled=True, WeChatServerAddress=wechat.url,
                          WeChatAccountQRCodeImageURL="/static/img/logo.svg", WeChatAuthEnabled=True)
        html = await page(session, gateway, "/login")
        assert buttons(html) == {"github": "https://ghe.example.com/login/oauth/authorize",
                                 "oidc": f"{oidc.url}/oauth2/authorize", "wechat": ""}
        assert 'id="wechat-panel"' in html and "/static/img/logo.svg" in html
        await set_options(gateway, LarkClientId=CLIENT_ID, GitHubOAuthEnabled=False)
        assert buttons(await page(session, gateway, "/register")) == {
            "lark": "https://lark.example.com/suite/passport/oauth/authorize",
            "oidc": f"{oidc.url}/oauth2/authorize", "wechat": ""}


async def test_settings_page_offers_binding(make_gateway, serve_fake):
    wechat = await serve_fake(FakeWeChatServer())
    gateway = await make_gateway()
    await gateway.add_user("rita")
    await set_options(gateway, GitHubClientId=CLIENT_ID, GitHubOAuthEnabled=True, LarkClientId=CLIENT_ID,
                      OidcClientId=CLIENT_ID, OidcAuthorizationEndpoint="https://idp.example.com/auth",
                      OidcEnabled=True, WeChatServerAddress=wechat.url, WeChatAuthEnabled=True,
                      SMTPServer="127.0.0.1")
    async with browser() as session:
        async with session.post(gateway.url + "/api/user/login",
                                json={"username": "rita", "password": "password123"}) as resp:
            assert (await resp.json())["success"]
        html = await page(session, gateway, "/setting")
        assert buttons(html) == {"github": "https://github.com/login/oauth/authorize",
                                 "lark": "https://passport.feishu.cn/suite/passport/oauth/authorize",
                                 "oidc": "https://idp.example.com/auth"}
        assert 'id="wechat-bind-form"' in html and 'id="email-bind-form"' in html
