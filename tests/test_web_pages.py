"""The pages over plain HTTP: who may open which page, languages, branding, static files, CSRF defences,
the default-password banner, and the message catalogue's completeness."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from oneapi.web import i18n
from oneapi.web.markdown import render_markdown, render_rich
from oneapi.web.pages import OPTION_TABS, PAGES
from tests.conftest import ROOT_ACCESS_TOKEN
from tests.web_util import http_session, http_sign_in

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ["/", "/about", "/login", "/register"]
USER_ONLY = ["/dashboard", "/token", "/token/add", "/token/edit/1", "/log", "/topup", "/setting", "/chat"]
ADMIN_ONLY = ["/channel", "/channel/add", "/channel/edit/1", "/user", "/user/add", "/user/edit/1", "/redemption",
              "/redemption/add", "/redemption/edit/1"]


async def _get(session, url: str, **headers: str):
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        return resp.status, resp.headers, await resp.text()


async def test_every_route_of_one_api_has_a_page() -> None:
    paths = {page.path for page in PAGES}
    for path in ("/", "/login", "/register", "/about", "/dashboard", "/channel", "/channel/add", "/token",
                 "/token/add", "/log", "/user", "/user/add", "/redemption", "/redemption/add", "/topup", "/setting"):
        assert path in paths
    assert {"/channel/edit/{id:\\d+}", "/token/edit/{id:\\d+}", "/user/edit/{id:\\d+}"} <= paths


async def test_anonymous_visitors_are_sent_to_login(gateway) -> None:
    async with http_session() as session:
        for path in PUBLIC:
            status, _, body = await _get(session, gateway.url + path)
            assert status == 200, path
            assert "<title>" in body
        for path in USER_ONLY + ADMIN_ONLY:
            status, headers, _ = await _get(session, gateway.url + path)
            assert status == 302, path
            location = unquote(headers["Location"])
            assert location == f"/login?next={path}", location


async def test_common_users_get_403_on_admin_pages(gateway) -> None:
    await gateway.add_user("carol", password="carol-pass-1")
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "carol", "carol-pass-1")
        for path in USER_ONLY:
            status, _, body = await _get(session, gateway.url + path)
            assert status == 200, path
            assert 'href="/channel"' not in body  # no admin links in the navigation
        for path in ADMIN_ONLY:
            status, _, body = await _get(session, gateway.url + path)
            assert status == 403, path
            assert "You do not have permission to open this page." in body
        status, _, body = await _get(session, gateway.url + "/setting")
        assert 'id="tab-operation"' not in body and 'data-option="ModelRatio"' not in body
        # signed in, the login page moves on
        status, headers, _ = await _get(session, gateway.url + "/login?next=/token")
        assert (status, headers["Location"]) == (302, "/token")


async def test_admins_see_admin_pages_but_only_root_edits_options(gateway) -> None:
    user = await gateway.add_user("dave", password="dave-pass-1")
    promoted = await gateway.api("POST", "/api/user/manage", {"username": "dave", "action": "promote"})
    assert promoted["success"], promoted
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "dave", "dave-pass-1")
        for path in ADMIN_ONLY:
            status, _, _ = await _get(session, gateway.url + path)
            assert status == 200, path
        _, _, body = await _get(session, gateway.url + "/setting")
        assert 'id="tab-personal"' in body and 'id="tab-operation"' not in body
        assert user["id"] > 1
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "root", "123456")
        _, _, body = await _get(session, gateway.url + "/setting")
        for tab in ("operation", "system", "other"):
            assert f'id="tab-{tab}"' in body
        assert 'data-option="ModelRatio"' in body and 'data-option="RetryTimes"' in body
        # credentials never travel back to the browser
        await gateway.api("PUT", "/api/option/", {"key": "SMTPToken", "value": "smtp-password-123"})
        _, _, body = await _get(session, gateway.url + "/setting")
        assert "smtp-password-123" not in body


async def test_disabled_users_are_signed_out_of_the_pages(gateway) -> None:
    await gateway.add_user("erin", password="erin-pass-1")
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "erin", "erin-pass-1")
        assert (await _get(session, gateway.url + "/token"))[0] == 200
        await gateway.api("POST", "/api/user/manage", {"username": "erin", "action": "disable"})
        status, headers, _ = await _get(session, gateway.url + "/token")
        assert status == 302 and headers["Location"].startswith("/login")


async def test_language_from_accept_language_and_the_switch_cookie(gateway) -> None:
    async with http_session() as session:
        _, headers, body = await _get(session, gateway.url + "/login", **{"Accept-Language": "zh-CN,zh;q=0.9"})
        assert '<html lang="zh-CN">' in body and "登录" in body and headers["Content-Language"] == "zh-CN"
        _, _, body = await _get(session, gateway.url + "/login", **{"Accept-Language": "fr-FR,en;q=0.5,zh;q=0.4"})
        assert '<html lang="en">' in body and "Sign in to One API" in body
        status, headers, _ = await _get(session, gateway.url + "/lang/zh-CN?next=/about")
        assert (status, headers["Location"]) == (302, "/about")
        assert "lang=zh-CN" in headers["Set-Cookie"] and "HttpOnly" in headers["Set-Cookie"]
        _, _, body = await _get(session, gateway.url + "/about", **{"Accept-Language": "en"})
        assert '<html lang="zh-CN">' in body  # the cookie wins over the header
        status, headers, _ = await _get(session, gateway.url + "/lang/en?next=//evil.example/x")
        assert headers["Location"] == "/"  # no open redirect
        status, _, _ = await _get(session, gateway.url + "/lang/fr")
        assert status == 404


async def test_branding_and_content_options_show_on_every_page(gateway) -> None:
    options = {
        "SystemName": "Acme AI",
        "Logo": "https://cdn.example.com/acme.png",
        "Footer": '<a href="https://acme.example/terms">Acme terms</a>',
        "Notice": "**Planned** maintenance <script>alert(1)</script>",
        "HomePageContent": "https://status.acme.example/",
        "About": "# About Acme\n\n[docs](https://acme.example/docs) and [bad](javascript:alert(1))",
    }
    for key, value in options.items():
        saved = await gateway.api("PUT", "/api/option/", {"key": key, "value": value})
        assert saved["success"], saved
    async with http_session() as session:
        for path in ("/", "/about", "/login"):
            _, _, body = await _get(session, gateway.url + path)
            assert "<title>" in body and "· Acme AI</title>" in body
            assert 'src="https://cdn.example.com/acme.png"' in body
            assert '<a href="https://acme.example/terms">Acme terms</a>' in body  # footer HTML as written
        _, _, home = await _get(session, gateway.url + "/")
        assert "<strong>Planned</strong> maintenance &lt;script&gt;" in home
        assert '<iframe class="content-frame" src="https://status.acme.example/"' in home
        _, _, about = await _get(session, gateway.url + "/about")
        assert "<h1>About Acme</h1>" in about and 'href="https://acme.example/docs"' in about
        assert 'href="javascript' not in about  # the text stays, the link does not


async def test_sign_in_and_sign_up_show_only_the_enabled_methods(gateway) -> None:
    async with http_session() as session:
        _, _, login = await _get(session, gateway.url + "/login")
        _, _, register = await _get(session, gateway.url + "/register")
        assert 'data-oauth=' not in login and 'id="send-code"' not in register
        assert 'href="/register"' in login and 'href="/reset"' not in login
        for key, value in (("GitHubClientId", "gh-client-1"), ("GitHubClientSecret", "gh-secret"),
                           ("GitHubOAuthEnabled", "true"), ("EmailVerificationEnabled", "true"),
                           ("SMTPServer", "smtp.example.com")):
            assert (await gateway.api("PUT", "/api/option/", {"key": key, "value": value}))["success"], key
        _, _, login = await _get(session, gateway.url + "/login")
        _, _, register = await _get(session, gateway.url + "/register")
        assert 'data-oauth="github" data-client-id="gh-client-1"' in login
        assert 'data-oauth="wechat"' not in login and 'data-oauth="oidc"' not in login
        assert 'id="send-code"' in register and 'name="verification_code"' in register
        assert 'href="/reset"' in login  # a reset mail can be sent
        await gateway.api("PUT", "/api/option/", {"key": "RegisterEnabled", "value": "false"})
        await gateway.api("PUT", "/api/option/", {"key": "PasswordLoginEnabled", "value": "false"})
        _, _, login = await _get(session, gateway.url + "/login")
        _, _, register = await _get(session, gateway.url + "/register")
        assert 'href="/register"' not in login and 'id="login-form"' not in login
        assert 'id="register-closed"' in register and 'id="register-form"' not in register


async def test_quota_is_shown_in_dollars_or_units_as_configured(gateway) -> None:
    await gateway.add_user("frank", password="frank-pass-1", quota=1_250_000)
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "frank", "frank-pass-1")
        _, _, body = await _get(session, gateway.url + "/dashboard")
        assert 'id="stat-quota">$2.50<' in body
        await gateway.api("PUT", "/api/option/", {"key": "DisplayInCurrencyEnabled", "value": "false"})
        _, _, body = await _get(session, gateway.url + "/dashboard")
        assert 'id="stat-quota">1,250,000<' in body


async def test_static_files_are_served_versioned_and_cached(gateway) -> None:
    async with http_session() as session:
        _, _, body = await _get(session, gateway.url + "/login")
        urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', body)
        assert any(u.startswith("/static/css/app.css?v=") for u in urls)
        assert not re.search(r'(?:href|src)="(?:https?:)?//', body.split("<footer")[0].split("</head>")[0])  # no CDN
        for url in urls:
            status, headers, _ = await _get(session, gateway.url + url)
            assert status == 200, url
            assert headers["Cache-Control"] == "public, max-age=604800"
        status, _, _ = await _get(session, gateway.url + "/static/../oneapi/config.py")
        assert status in (403, 404)


async def test_pages_and_static_files_share_the_web_rate_limit(make_gateway) -> None:
    gateway = await make_gateway(DEBUG="false", GLOBAL_WEB_RATE_LIMIT="3")
    async with http_session() as session:
        statuses = [(await _get(session, gateway.url + path))[0]
                    for path in ("/login", "/static/css/app.css", "/about", "/")]
        assert statuses == [200, 200, 200, 429]
        async with session.get(gateway.url + "/api/status") as resp:
            assert resp.status == 200  # the API has its own limit


async def test_unknown_pages_get_a_404_page_and_api_paths_keep_their_json(gateway) -> None:
    async with http_session() as session:
        status, headers, body = await _get(session, gateway.url + "/no/such/page")
        assert status == 404 and "Page not found" in body and headers["Content-Type"].startswith("text/html")
        async with session.get(gateway.url + "/api/no_such_endpoint") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["message"] == "Invalid URL (GET /api/no_such_endpoint)"
        async with session.post(gateway.url + "/api/user/logout") as resp:
            assert resp.status in (404, 405)
            assert resp.content_type == "application/json"


async def test_session_cookie_is_httponly_samesite_and_cross_site_writes_are_refused(gateway) -> None:
    async with http_session() as session:
        async with session.post(gateway.url + "/api/user/login", json={"username": "root", "password": "123456"}) as r:
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        evil = {"Origin": "https://evil.example"}
        async with session.post(gateway.url + "/api/token/", json={"name": "csrf"}, headers=evil) as resp:
            assert resp.status == 403
            assert (await resp.json())["success"] is False
        async with session.post(gateway.url + "/api/token/", json={"name": "csrf", "unlimited_quota": True},
                                headers={"Referer": "https://evil.example/page"}) as resp:
            assert resp.status == 403
        async with session.post(gateway.url + "/api/token/", json={"name": "mine", "unlimited_quota": True},
                                headers={"Origin": gateway.url}) as resp:
            assert (await resp.json())["success"] is True
        tokens = await gateway.api("GET", "/api/token/search?keyword=csrf")
        assert tokens["data"] == []
        # the sign-out form is POST-only and same-origin
        async with session.post(gateway.url + "/logout", headers=evil, allow_redirects=False) as resp:
            assert resp.status == 403
        assert (await _get(session, gateway.url + "/dashboard"))[0] == 200
        status, _, _ = await _get(session, gateway.url + "/logout")
        assert status == 404  # no GET sign-out a link on another site could trigger
        async with session.post(gateway.url + "/logout", headers={"Origin": gateway.url},
                                allow_redirects=False) as resp:
            assert (resp.status, resp.headers["Location"]) == (302, "/login")
        assert (await _get(session, gateway.url + "/dashboard"))[0] == 302


async def test_default_root_password_banner_until_it_is_changed(gateway) -> None:
    async with http_session() as session:
        await http_sign_in(session, gateway.url, "root", "123456")
        _, _, body = await _get(session, gateway.url + "/token")
        assert 'id="default-password-banner"' in body
        async with session.put(gateway.url + "/api/user/self", json={"password": "a-better-one-1"},
                               headers={"Origin": gateway.url}) as resp:
            assert (await resp.json())["success"]
        _, _, body = await _get(session, gateway.url + "/token")
        assert 'id="default-password-banner"' not in body
    users = await gateway.api("GET", "/api/user/search?keyword=root", token=ROOT_ACCESS_TOKEN)
    assert users["data"][0]["username"] == "root"


# -- the catalogue ------------------------------------------------------------------------------------
def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*ROOT.joinpath("templates").rglob("*.html"), *ROOT.joinpath("static", "js").glob("*.js")]:
        keys |= set(re.findall(r"\bt\(\s*'([a-z][\w.]*)'", path.read_text()))
    for path in ROOT.joinpath("oneapi", "web").glob("*.py"):
        keys |= {k for k in re.findall(r'"((?:nav|error|log|channel|token|user|redemption|reset|oauth)\.[\w.]+)"',
                                       path.read_text()) if not k.endswith(".html")}
    return keys


def _computed_keys() -> set[str]:
    """Keys the templates and scripts build from parts: option labels, tab and section titles, actions."""
    keys = {f"setting.tab_{tab}" for tab, _ in OPTION_TABS} | {"setting.tab_personal", "setting.section_logs"}
    for _, sections in OPTION_TABS:
        keys |= {f"setting.section_{section.id}" for section in sections}
        keys |= {f"opt.{field.key}" for section in sections for field in section.fields}
    keys |= {f"user.action_{a}" for a in ("promote", "demote", "enable", "disable", "delete")}
    keys |= {"channel.priority_of", "channel.weight_of"}
    return keys


def test_every_key_the_pages_use_is_in_every_language() -> None:
    used = {key for key in _used_keys() if not key.endswith((".", "_"))} | _computed_keys()
    missing = sorted(key for key in used if not i18n.has(key))
    assert missing == []


def _po_catalogues() -> dict[str, Catalog]:
    found = {}
    for path in sorted(ROOT.joinpath("oneapi", "locales").glob("*/LC_MESSAGES/messages.po")):
        with path.open("rb") as source:
            found[path.parent.parent.name] = read_po(source)
    return found


def test_every_msgid_is_translated_in_every_shipped_language() -> None:
    """A .po file that lacks an entry, or leaves one empty or fuzzy, fails here: add the text, not a gap."""
    catalogues = _po_catalogues()
    assert {"en", "zh_CN"} <= set(catalogues)
    every_id = {(m.context, m.id) for c in catalogues.values() for m in c if m.id}
    for lang, catalogue in catalogues.items():
        translated = {(m.context, m.id) for m in catalogue if m.id and m.string and not m.fuzzy}
        assert sorted(every_id - translated, key=str) == [], lang
    assert set(i18n.LANGUAGES) == {lang.replace("_", "-") for lang in catalogues}


def test_translations_keep_their_placeholders() -> None:
    """Page texts keep English's ``{name}`` slots; server messages keep the ``{0}`` slots of the text sent."""
    slots = re.compile(r"\{(\w*)\}")
    english = {m.id: m.string for m in _po_catalogues()["en"] if m.id and not m.context}
    for catalogue in _po_catalogues().values():
        for message in (m for m in catalogue if m.id):
            reference = message.id if message.context else english[message.id]
            assert sorted(slots.findall(message.string)) == sorted(slots.findall(reference)), message.id


def test_server_messages_of_the_api_are_translated() -> None:
    """Every Chinese message the API raises has an English text for the pages."""
    literals: set[str] = set()
    for path in [*ROOT.joinpath("oneapi", "api").glob("*.py"), *ROOT.joinpath("oneapi").glob("*.py")]:
        if path.name == "__main__.py":
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for match in re.finditer(r'(?:ApiError|api_fail)\(\s*f?"([^"]*[\u4e00-\u9fff][^"]*)"', path.read_text()):
            text = re.sub(r"\{([A-Z][A-Z_]*)\}", lambda m, mod=module: str(getattr(mod, m.group(1))), match.group(1))
            text = re.sub(r"\{[^}]*\}", "X", text)
            literals.add(text + "X" if text.endswith(" ") else text)  # "prefix " + details
    # the same matching as app.js: a {n} slot takes any text
    sent = i18n.SERVER_MESSAGES["zh-CN"]
    patterns = [re.compile(re.sub(r"\\\{\d+\\\}", ".*?", re.escape(zh)) + "$", re.S) for zh in sent]
    assert sorted(text for text in literals if not any(p.match(text) for p in patterns)) == []


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, None, "en"), (None, "zh-TW", "zh-CN"), (None, "en-GB,zh;q=0.8", "en"), (None, "de,zh;q=0.1", "zh-CN"),
    ("en", "zh-CN", "en"), ("xx", "zh", "zh-CN"), (None, "zh;q=0,en;q=0.5", "en"),
])
def test_language_negotiation(cookie, header, expected) -> None:
    assert i18n.negotiate(cookie, header) == expected


def test_markdown_escapes_html_and_unsafe_links() -> None:
    html = render_markdown("<img src=x onerror=alert(1)> **b** [x](javascript:alert(1)) `<i>`")
    assert "<img" not in html and "&lt;img" in html
    assert "<strong>b</strong>" in html and "javascript" not in html.split("x")[0]
    assert 'href="javascript' not in html and "<code>&lt;i&gt;</code>" in html
    assert str(render_rich("<p>raw <b>html</b></p>")) == "<p>raw <b>html</b></p>"  # HTML by intent
    assert "<iframe" not in str(render_rich("https://example.com", allow_iframe=False))
    table = str(render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n1. x\n2. y"))
    assert "<table>" in table and "<td>2</td>" in table
    assert "<ul>\n<li>one</li>" in table and "<ol>\n<li>x</li>" in table
