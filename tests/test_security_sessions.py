"""Sessions end when they should (on every node), cookies are flagged right, cross-site writes are refused,
and ?next= never leaves the site."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from tests.conftest import Gateway

EVIL = "https://evil.example"


async def browser(gateway: Gateway, username: str, password: str = "password123") -> aiohttp.ClientSession:
    """A signed-in cookie jar (unsafe=True: keep 127.0.0.1's cookie)."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(gateway.url + "/api/user/login",
                            json={"username": username, "password": password}) as resp:
        assert (await resp.json())["success"], resp
    return session


async def signed_in(gateway: Gateway, session: aiohttp.ClientSession) -> bool:
    async with session.get(gateway.url + "/api/user/self") as resp:
        return (await resp.json())["success"]


@pytest.mark.parametrize("change", ["logout", "password", "disable", "delete", "promote", "demote"])
async def test_every_session_of_the_user_ends_at_once(gateway: Gateway, change: str):
    user = await gateway.add_user()
    if change == "demote":
        assert (await gateway.api("POST", "/api/user/manage", {"username": user["username"],
                                                                "action": "promote"}))["success"]
    first, second = await browser(gateway, user["username"]), await browser(gateway, user["username"])
    async with first, second:
        assert await signed_in(gateway, first) and await signed_in(gateway, second)
        if change == "logout":
            async with first.get(gateway.url + "/api/user/logout") as resp:
                assert (await resp.json())["success"]
        elif change == "password":
            async with first.put(gateway.url + "/api/user/self", json={"password": "brand-new-pw1"}) as resp:
                assert (await resp.json())["success"]
        else:
            answer = await gateway.api("POST", "/api/user/manage", {"username": user["username"], "action": change})
            assert answer["success"], answer
        assert not await signed_in(gateway, second)
        if change == "password":  # the browser that changed it was given a fresh cookie
            assert await signed_in(gateway, first)
        else:
            assert not await signed_in(gateway, first)


async def test_an_admin_password_change_ends_the_users_sessions(gateway: Gateway):
    user = await gateway.add_user()
    async with await browser(gateway, user["username"]) as session:
        user.update(password="set-by-admin1")
        assert (await gateway.api("PUT", "/api/user/", user))["success"]
        assert not await signed_in(gateway, session)


async def test_a_logout_on_one_node_ends_the_session_on_another(make_gateway, server_dsn):
    one = await make_gateway(SQL_DSN=server_dsn)
    two = await make_gateway(SQL_DSN=server_dsn, NODE_TYPE="slave")
    user = await one.add_user()
    two.state.cache.put_user(one.state.cache.user(user["id"]))  # as the periodic sync would
    async with await browser(one, user["username"]) as session:
        cookie = session.cookie_jar.filter_cookies(URL(one.url))["session"].value
        async with aiohttp.ClientSession() as other:
            async with other.get(two.url + "/api/user/self", headers={"Cookie": f"session={cookie}"}) as resp:
                assert (await resp.json())["success"]
            async with session.get(one.url + "/api/user/logout") as resp:
                assert (await resp.json())["success"]
            async with other.get(two.url + "/api/user/self", headers={"Cookie": f"session={cookie}"}) as resp:
                assert not (await resp.json())["success"]


async def test_session_lifetime_is_configurable_and_the_cookie_is_flagged(make_gateway):
    gateway = await make_gateway(SESSION_MAX_AGE="3600")
    await gateway.add_user("flagged")
    for headers, secure in (({}, False), ({"X-Forwarded-Proto": "https"}, True)):
        async with gateway.http.post(gateway.url + "/api/user/login", headers=headers,
                                     json={"username": "flagged", "password": "password123"}) as resp:
            cookie = resp.cookies["session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["max-age"] == "3600"
        assert bool(cookie["secure"]) is secure


async def test_x_forwarded_proto_from_an_untrusted_peer_does_not_count(make_gateway):
    gateway = await make_gateway(TRUSTED_PROXIES="10.0.0.0/8")
    await gateway.add_user("plain")
    async with gateway.http.post(gateway.url + "/api/user/login", headers={"X-Forwarded-Proto": "https"},
                                 json={"username": "plain", "password": "password123"}) as resp:
        assert not resp.cookies["session"]["secure"]


async def test_a_tampered_or_old_style_cookie_is_refused(gateway: Gateway):
    await gateway.add_user("tamper")
    async with await browser(gateway, "tamper") as session:
        value = session.cookie_jar.filter_cookies(URL(gateway.url))["session"].value
    for forged in (value[:-2] + "xx", "eyJpZCI6MX0.bad", "", "x" * 4000):
        async with gateway.http.get(gateway.url + "/api/user/self", headers={"Cookie": f"session={forged}"}) as resp:
            assert resp.status == 401


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}, {"Referer": EVIL + "/page"},
])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("PUT", "/api/user/self", {"json": {"display_name": "evil"}}),
    ("PUT", "/api/user/self", {"data": '{"display_name": "evil"}', "headers": {"Content-Type": "text/plain"}}),
    ("PUT", "/api/user/self", {"data": {"display_name": "evil"}}),
    ("GET", "/api/user/token", {}),
    ("GET", "/api/user/logout", {}),
])
async def test_cookie_writes_from_another_site_are_refused(gateway: Gateway, headers, method, path, body):
    user = await gateway.add_user()
    async with await browser(gateway, user["username"]) as session:
        extra = {**body.pop("headers", {}), **headers}
        async with session.request(method, gateway.url + path, headers=extra, **body) as resp:
            assert resp.status == 403
            assert await resp.json() == {"success": False, "message": "cross-site request refused"}
        assert await signed_in(gateway, session)
        async with session.get(gateway.url + "/api/user/self") as resp:
            assert (await resp.json())["data"]["display_name"] == user["username"]


@pytest.mark.parametrize("path", ["/api/user/login", "/api/user/register"])
async def test_sign_in_and_registration_from_another_site_are_refused(gateway: Gateway, path: str):
    async with gateway.http.post(gateway.url + path, headers={"Origin": EVIL},
                                 json={"username": "root", "password": "123456"}) as resp:
        assert resp.status == 403


async def test_same_site_browsers_scripts_and_access_tokens_keep_working(gateway: Gateway):
    user = await gateway.add_user()
    async with await browser(gateway, user["username"]) as session:
        own = {"Origin": gateway.url, "Sec-Fetch-Site": "same-origin", "Referer": gateway.url + "/setting"}
        async with session.put(gateway.url + "/api/user/self", json={"display_name": "mine"}, headers=own) as resp:
            assert (await resp.json())["success"]
        async with session.put(gateway.url + "/api/user/self", json={"display_name": "script"}) as resp:
            assert (await resp.json())["success"]
    async with gateway.http.put(gateway.url + "/api/user/self", json={"display_name": "token"},
                                headers={"Origin": EVIL, "Authorization": user["access_token"]}) as resp:
        assert (await resp.json())["success"]


@pytest.mark.parametrize("target", [
    "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example", "javascript:alert(1)",
    "/%2F/evil.example", "/%5Cevil.example", "%2F%2Fevil.example", "/%09/evil.example", "/\t/evil.example",
    "/%252F%252Fevil.example", "evil", "/ok\r\nSet-Cookie: x=1",
])
async def test_next_never_leaves_the_site(gateway: Gateway, target: str):
    async with gateway.http.get(gateway.url + "/lang/en", params={"next": target}, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"] == "/"


async def test_next_keeps_a_local_path(gateway: Gateway):
    async with gateway.http.get(gateway.url + "/lang/en", params={"next": "/log?p=2"}, allow_redirects=False) as r:
        assert r.headers["Location"] == "/log?p=2"


async def test_pages_forbid_inline_script_and_framing_by_other_sites(gateway: Gateway):
    async with gateway.http.get(gateway.url + "/login") as resp:
        csp = resp.headers["Content-Security-Policy"]
        html = await resp.text()
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'self'"
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN" and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    # Only data blocks may sit inline; every executable script comes from static/.


    inline = [m for m in re.findall(r"<script([^>]*)>", html) if "src=" not in m and "application/json" not in m]
    assert inline == []
