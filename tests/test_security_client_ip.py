"""Client IP: the socket peer, unless a trusted proxy (TRUSTED_PROXIES) vouches for the hop before it.

The token subnet check reports the address it used, so each case reads the gateway's own verdict.
"""

from __future__ import annotations

import pytest

from oneapi.config import ConfigError
from tests.conftest import Gateway
from tests.fakes.openai_upstream import FakeOpenAI

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def seen_ip(gateway: Gateway, key: str, headers: dict[str, str]) -> str:
    """The address the gateway attributes the request to (the token allows only 192.0.2.0/24)."""
    async with gateway.http.post(gateway.url + "/v1/chat/completions", json=CHAT,
                                 headers={"Authorization": key, **headers}) as resp:
        body = await resp.json()
    if resp.status == 200:
        return "allowed"
    assert resp.status == 403, body
    return body["error"]["message"].rsplit("：", 1)[1].split(" (request id")[0]


async def subnet_token(gateway: Gateway, fake_openai: FakeOpenAI) -> str:
    await gateway.add_channel(fake_openai.url)
    return await gateway.add_token(subnet="192.0.2.0/24")


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "127.0.0.1"),
    ({"X-Forwarded-For": "192.0.2.7"}, "allowed"),
    # The client wrote the leftmost entry itself; the proxy appended the address it really saw.
    ({"X-Forwarded-For": "192.0.2.7, 203.0.113.9"}, "203.0.113.9"),
    ({"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}, "203.0.113.9"),
    ({"X-Forwarded-For": "garbage, 198.51.100.1"}, "198.51.100.1"),
    ({"X-Forwarded-For": "192.0.2.7, not-an-ip"}, "127.0.0.1"),
    ({"X-Real-IP": "192.0.2.8"}, "allowed"),
])
async def test_a_loopback_proxy_is_trusted_and_the_rightmost_untrusted_hop_wins(
        gateway: Gateway, fake_openai: FakeOpenAI, headers: dict[str, str], expected: str):
    key = await subnet_token(gateway, fake_openai)
    assert await seen_ip(gateway, key, headers) == expected


@pytest.mark.parametrize("headers", [{"X-Forwarded-For": "192.0.2.7"}, {"X-Real-IP": "192.0.2.7"}])
async def test_an_untrusted_peer_cannot_claim_another_address(make_gateway, fake_openai: FakeOpenAI,
                                                              headers: dict[str, str]):
    gateway = await make_gateway(TRUSTED_PROXIES="10.0.0.0/8")
    key = await subnet_token(gateway, fake_openai)
    assert await seen_ip(gateway, key, headers) == "127.0.0.1"


async def test_a_bad_trusted_proxies_value_stops_start_up(make_gateway):
    with pytest.raises(ConfigError, match="TRUSTED_PROXIES"):
        await make_gateway(TRUSTED_PROXIES="10.0.0.0/8,nonsense")
