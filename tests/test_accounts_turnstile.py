"""Turnstile on registration, verification and reset mail, checked against a fake siteverify that wants
the secret and the client IP and lets each token pass once; the pass is remembered per browser."""

from __future__ import annotations

from tests.accounts_util import browser, call, register, set_options
from tests.fakes.oauth_providers import FakeTurnstile


async def turnstile_gateway(make_gateway, fake: FakeTurnstile, **env: str):
    gateway = await make_gateway(TURNSTILE_VERIFY_URL=fake.verify_url, **env)
    await set_options(gateway, TurnstileSiteKey="site-key", TurnstileSecretKey=fake.secret,
                      TurnstileCheckEnabled=True)
    return gateway


async def test_turnstile_guards_registration_and_mail_routes(make_gateway, serve_fake):
    fake = await serve_fake(FakeTurnstile())
    gateway = await turnstile_gateway(make_gateway, fake)
    async with browser() as session, browser() as other:
        for path in ("/api/verification?email=a@example.com", "/api/reset_password?email=a@example.com"):
            assert await call(session, gateway, "GET", path) == {"success": False, "message": "Turnstile token 为空"}
        empty = await register(session, gateway, "nina")
        assert empty == {"success": False, "message": "Turnstile token 为空"}
        forged = await register(session, gateway, "nina", "?turnstile=forged")
        assert forged == {"success": False, "message": "Turnstile 校验失败，请刷新重试！"}

        token = fake.solve()
        ok = await register(session, gateway, "nina", f"?turnstile={token}")
        assert ok["success"], ok
        assert fake.checks[-1] == {"secret": "turnstile-secret", "response": token, "remoteip": "127.0.0.1"}
        remembered = await register(session, gateway, "nina2")
        assert remembered["success"], "the pass is remembered for this browser"

        replay = await register(other, gateway, "oscar", f"?turnstile={token}")
        assert replay == {"success": False, "message": "Turnstile 校验失败，请刷新重试！"}, "a token passes once"
        assert (await register(other, gateway, "oscar"))["success"] is False

        await set_options(gateway, TurnstileSecretKey="wrong-secret")
        wrong = await register(other, gateway, "oscar", f"?turnstile={fake.solve()}")
        assert wrong == {"success": False, "message": "Turnstile 校验失败，请刷新重试！"}


async def test_a_pass_made_on_one_node_counts_on_another(make_gateway, serve_fake, sql_dsn: str):
    fake = await serve_fake(FakeTurnstile())
    node_a = await turnstile_gateway(make_gateway, fake, SQL_DSN=sql_dsn)
    node_b = await turnstile_gateway(make_gateway, fake, SQL_DSN=sql_dsn)
    async with browser() as session:
        passed = await call(session, node_a, "GET", f"/api/verification?email=p@example.com&turnstile={fake.solve()}")
        assert passed == {"success": False, "message": "SMTP 服务器未配置"}, "past Turnstile, stopped at the mail"
        second = await register(session, node_b, "pia2")
        assert second["success"], second


async def test_turnstile_service_down_is_a_message(make_gateway):
    gateway = await make_gateway(TURNSTILE_VERIFY_URL="http://127.0.0.1:9/siteverify")
    await set_options(gateway, TurnstileSiteKey="site-key", TurnstileSecretKey="s", TurnstileCheckEnabled=True)
    async with browser() as session:
        answer = await register(session, gateway, "quin", "?turnstile=t")
        assert answer["success"] is False and answer["message"].startswith("Turnstile 校验失败："), answer
