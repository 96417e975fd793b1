"""Mail flows end to end: a real SMTP server (aiosmtpd) receives what the gateway sends over STARTTLS or
implicit TLS with AUTH, and the codes and links in those mails drive registration, binding and reset."""

from __future__ import annotations

import random
import re
import socket
import uuid

import pytest

from tests.accounts_util import browser, call, register, set_options
from tests.fakes.smtp import FakeSMTP

EMAIL = "alice@example.com"


@pytest.fixture
async def smtp(tmp_path):
    server = await FakeSMTP().start(tmp_path)
    yield server
    await server.close()


async def mail_gateway(make_gateway, smtp: FakeSMTP, **env: str):
    gateway = await make_gateway(SMTP_CA_FILE=smtp.ca_file, **env)
    await set_options(gateway, **smtp.options(SystemName="测试站"))
    return gateway


def code_in(html: str) -> str:
    match = re.search(r"<strong>([0-9a-f]{6})</strong>", html)
    assert match, html
    return match.group(1)


async def test_registration_with_a_mailed_code_over_starttls(make_gateway, smtp: FakeSMTP):
    gateway = await mail_gateway(make_gateway, smtp)
    await set_options(gateway, EmailVerificationEnabled=True)
    async with browser() as session:
        no_code = await register(session, gateway, "alice", email=EMAIL)
        assert no_code == {"success": False, "message": "管理员开启了邮箱验证，请输入邮箱地址和验证码"}
        sent = await call(session, gateway, "GET", f"/api/verification?email={EMAIL}")
        assert sent["success"], sent
        [mail] = smtp.messages
        assert mail.tls and mail.login == "mailer@example.com", "STARTTLS, then AUTH with SMTPAccount/SMTPToken"
        assert mail.rcpt_tos == [EMAIL] and mail.mail_from == "noreply@example.com"
        assert mail.message["Subject"] == "测试站邮箱验证邮件"
        assert "测试站" in str(mail.message["From"])
        code = code_in(smtp.last_html())

        wrong = "000000" if code != "000000" else "111111"
        bad = await register(session, gateway, "alice", email=EMAIL, verification_code=wrong)
        assert bad == {"success": False, "message": "验证码错误或已过期"}
        ok = await register(session, gateway, "alice", email=EMAIL, verification_code=code)
        assert ok["success"], ok
        again = await register(session, gateway, "alice2", email=EMAIL, verification_code=code)
        assert again == {"success": False, "message": "验证码错误或已过期"}, "a code is used once"
        login = await call(session, gateway, "POST", "/api/user/login",
                           json={"username": "alice", "password": "password123"})
        assert login["success"], login
        me = await call(session, gateway, "GET", "/api/user/self")
        assert me["data"]["email"] == EMAIL


async def test_a_good_code_survives_a_taken_username(make_gateway, smtp: FakeSMTP):
    gateway = await mail_gateway(make_gateway, smtp)
    await set_options(gateway, EmailVerificationEnabled=True)
    await gateway.add_user("bob")
    async with browser() as session:
        assert (await call(session, gateway, "GET", f"/api/verification?email={EMAIL}"))["success"]
        code = code_in(smtp.last_html())
        taken = await register(session, gateway, "bob", email=EMAIL, verification_code=code)
        assert taken == {"success": False, "message": "用户名 bob 已被占用"}
        ok = await register(session, gateway, "bob2", email=EMAIL, verification_code=code)
        assert ok["success"], ok


def _loopback_465() -> str:
    """A free 127.x.y.z:465 (the whole 127/8 is loopback, so parallel tests do not collide)."""
    for _ in range(20):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((host, 465))
            except PermissionError:
                pytest.skip("binding port 465 needs root or CAP_NET_BIND_SERVICE")
            except OSError:
                continue
        return host
    pytest.skip("no free loopback address for port 465")


async def test_password_reset_over_implicit_tls_on_465(make_gateway, tmp_path):
    smtp = await FakeSMTP(host=_loopback_465(), port=465, implicit_tls=True).start(tmp_path)
    try:
        gateway = await mail_gateway(make_gateway, smtp)
        await set_options(gateway, ServerAddress="https://gw.example.com")
        user = await gateway.add_user("carol")
        assert (await gateway.api("PUT", "/api/user/", {**user, "email": "carol@example.com"}))["success"]
        async with browser() as session:
            unknown = await call(session, gateway, "GET", "/api/reset_password?email=nobody@example.com")
            assert unknown == {"success": False, "message": "该邮箱地址未注册"}
            sent = await call(session, gateway, "GET", "/api/reset_password?email=carol@example.com")
            assert sent["success"], sent
            [mail] = smtp.messages
            assert mail.tls and mail.login == "mailer@example.com"
            link = re.search(r"https://gw\.example\.com/user/reset\?email=([^&]+)&amp;token=([0-9a-f]{32})|"
                             r"https://gw\.example\.com/user/reset\?email=([^&]+)&token=([0-9a-f]{32})",
                             smtp.last_html())
            assert link, smtp.last_html()
            token = link.group(2) or link.group(4)
            page = await session.get(f"{gateway.url}/user/reset?email=carol@example.com&token={token}")
            assert page.status == 200 and 'id="reset-confirm-form"' in await page.text()
            bad = await call(session, gateway, "POST", "/api/user/reset",
                             json={"email": "carol@example.com", "token": "0" * 32})
            assert bad == {"success": False, "message": "重置链接非法或已过期"}
            reset = await call(session, gateway, "POST", "/api/user/reset",
                               json={"email": "carol@example.com", "token": token})
            assert reset["success"] and len(reset["data"]) == 12, reset
            reused = await call(session, gateway, "POST", "/api/user/reset",
                                json={"email": "carol@example.com", "token": token})
            assert reused == {"success": False, "message": "重置链接非法或已过期"}
            old = await call(session, gateway, "POST", "/api/user/login",
                             json={"username": "carol", "password": "password123"})
            assert not old["success"]
            new = await call(session, gateway, "POST", "/api/user/login",
                             json={"username": "carol", "password": reset["data"]})
            assert new["success"], new
    finally:
        await smtp.close()


async def test_smtp_failures_are_reported_not_500(make_gateway, smtp: FakeSMTP, tmp_path):
    async with browser() as session:
        bare = await make_gateway()
        unset = await call(session, bare, "GET", f"/api/verification?email={EMAIL}")
        assert unset == {"success": False, "message": "SMTP 服务器未配置"}

        gateway = await mail_gateway(make_gateway, smtp)
        await set_options(gateway, SMTPToken="wrong-password")
        refused_auth = await call(session, gateway, "GET", f"/api/verification?email={EMAIL}")
        assert not refused_auth["success"] and refused_auth["message"].startswith("SMTP 认证失败"), refused_auth

        await set_options(gateway, **smtp.options())
        smtp.refuse = True
        rejected = await call(session, gateway, "GET", "/api/verification?email=dave@example.com")
        assert not rejected["success"] and "554" in rejected["message"], rejected
        smtp.refuse = False

        untrusting = await make_gateway()  # no SMTP_CA_FILE: the test CA is not trusted
        await set_options(untrusting, **smtp.options())
        unverified = await call(session, untrusting, "GET", "/api/verification?email=erin@example.com")
        assert not unverified["success"] and "certificate" in unverified["message"].lower(), unverified

        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        await set_options(gateway, SMTPPort=port)
        down = await call(session, gateway, "GET", "/api/verification?email=frank@example.com")
        assert not down["success"] and f"127.0.0.1:{port}" in down["message"], down
        assert smtp.messages == []


async def test_verification_refusals(make_gateway, smtp: FakeSMTP):
    gateway = await mail_gateway(make_gateway, smtp)
    user = await gateway.add_user("gina")
    assert (await gateway.api("PUT", "/api/user/", {**user, "email": "gina@example.com"}))["success"]
    await set_options(gateway, EmailDomainWhitelist="example.com,example.org", EmailDomainRestrictionEnabled=True)
    async with browser() as session:
        for address, message in (
            ("not-an-address", "无效的参数"),
            ("", "无效的参数"),
            ("x@elsewhere.net", "管理员启用了邮箱域名白名单，您的邮箱地址的域名不在白名单中"),
            ("gina@example.com", "邮箱地址已被占用"),
        ):
            answer = await call(session, gateway, "GET", f"/api/verification?email={address}")
            assert answer == {"success": False, "message": message}, address
        assert (await call(session, gateway, "GET", "/api/verification?email=h@example.org"))["success"]
        soon = await call(session, gateway, "GET", "/api/verification?email=h@example.org")
        assert soon == {"success": False, "message": "发送过于频繁，请 60 秒后再试"}
    assert len(smtp.messages) == 1


async def test_binding_an_email_to_the_signed_in_user(make_gateway, smtp: FakeSMTP):
    gateway = await mail_gateway(make_gateway, smtp)
    user = await gateway.add_user("hank")
    token = user["access_token"]
    refused = await gateway.api("GET", "/api/oauth/email/bind?email=hank@example.com&code=123456", token="")
    assert refused["success"] is False
    assert (await gateway.api("GET", "/api/verification?email=hank@example.com", token=""))["success"]
    code = code_in(smtp.last_html())
    wrong = await gateway.api("GET", "/api/oauth/email/bind?email=hank@example.com&code=zzzzzz", token=token)
    assert wrong == {"success": False, "message": "验证码错误或已过期"}
    bound = await gateway.api("GET", f"/api/oauth/email/bind?email=hank@example.com&code={code}", token=token)
    assert bound["success"], bound
    assert (await gateway.api("GET", "/api/user/self", token=token))["data"]["email"] == "hank@example.com"


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_a_code_mailed_by_one_node_is_checked_by_another(make_gateway, smtp: FakeSMTP, sql_dsn: str,
                                                               store: str):
    env = {"SQL_DSN": sql_dsn}
    if store == "redis":
        env.update(REDIS_CONN_STRING="redis://127.0.0.1:6379/0", SYNC_FREQUENCY="600")
    node_a = await mail_gateway(make_gateway, smtp, **env)
    node_b = await mail_gateway(make_gateway, smtp, **env)
    for node in (node_a, node_b):
        await set_options(node, EmailVerificationEnabled=True)
    email = f"{uuid.uuid4().hex[:12]}@example.com"  # Redis outlives the test: a fresh address each run
    async with browser() as session:
        sent = await call(session, node_a, "GET", f"/api/verification?email={email}")
        assert sent["success"], sent
        code = code_in(smtp.last_html())
        ok = await register(session, node_b, "ivy", email=email, verification_code=code)
        assert ok["success"], ok
        replay = await register(session, node_a, "ivy2", email=email, verification_code=code)
        assert replay == {"success": False, "message": "验证码错误或已过期"}
