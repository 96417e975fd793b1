"""Password guessing: failed sign-ins are limited per username and per client IP, whatever the headers say."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import Gateway

TOO_MANY = "登录失败次数过多，请 15 分钟后再试"


async def sign_in(gateway: Gateway, username: str, password: str, headers: dict[str, str] | None = None) -> dict:
    async with gateway.http.post(gateway.url + "/api/user/login", headers=headers or {},
                                 json={"username": username, "password": password}) as resp:
        body = await resp.json()
        assert resp.status == (429 if body["message"] == TOO_MANY else 200), body
        return body


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_username_is_locked_after_ten_failures_from_any_address(make_gateway, store: str):
    env = {"REDIS_CONN_STRING": "redis://127.0.0.1:6379", "SYNC_FREQUENCY": "600"} if store == "redis" else {}
    gateway = await make_gateway(**env)
    victim = f"vic{secrets.token_hex(4)}"  # Redis keeps counters across runs for the window
    await gateway.add_user(victim)
    for attempt in range(10):
        # Every guess claims a new address through a trusted (loopback) proxy: the username limit still holds.
        spoof = {"X-Forwarded-For": f"198.51.100.{attempt}"}
        assert (await sign_in(gateway, victim, f"guess{attempt}", spoof))["message"] != TOO_MANY
    assert (await sign_in(gateway, victim, "password123", {"X-Forwarded-For": "203.0.113.1"}))["message"] == TOO_MANY
    assert (await sign_in(gateway, victim.upper() + " ", "password123"))["message"] == TOO_MANY
    other = await sign_in(gateway, "root", "123456", {"X-Forwarded-For": "203.0.113.2"})
    assert other["success"], "other accounts are untouched"


async def test_an_address_is_locked_after_thirty_failures_and_headers_cannot_reset_it(make_gateway):
    gateway = await make_gateway(TRUSTED_PROXIES="10.0.0.0/8")  # the test client is no proxy now
    for attempt in range(30):
        name = f"nobody{secrets.token_hex(3)}"
        headers = {"X-Forwarded-For": f"192.0.2.{attempt}", "X-Real-IP": f"192.0.2.{attempt}"}
        assert (await sign_in(gateway, name, "guess", headers))["message"] != TOO_MANY
    assert (await sign_in(gateway, "root", "123456", {"X-Forwarded-For": "192.0.2.200"}))["message"] == TOO_MANY


async def test_successful_sign_ins_are_not_counted(gateway: Gateway):
    await gateway.add_user("regular")
    for _ in range(15):
        assert (await sign_in(gateway, "regular", "password123"))["success"]
