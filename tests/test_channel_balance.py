"""``GET /api/channel/update_balance/:id`` for every channel type One API queries, each against a fake of
that service's balance API that checks the key the way the service does."""

from __future__ import annotations

import pytest

from oneapi.constants import ChannelType
from tests.fakes.balance import FakeBalance

TYPES = {"closeai": ChannelType.CLOSEAI, "openai_sb": ChannelType.OPENAI_SB, "aiproxy": ChannelType.AIPROXY,
         "api2gpt": ChannelType.API2GPT, "aigc2d": ChannelType.AIGC2D, "siliconflow": ChannelType.SILICONFLOW,
         "deepseek": ChannelType.DEEPSEEK, "openrouter": ChannelType.OPENROUTER}
REFUSED = {"closeai": "status code: 401", "api2gpt": "status code: 401", "aigc2d": "status code: 401",
           "openrouter": "status code: 401", "openai_sb": "api_key 无效",
           "aiproxy": "code: 1001, message: invalid api key", "siliconflow": "code: 20002, message: Invalid token",
           "deepseek": "currency CNY not found"}


@pytest.mark.parametrize("service", list(TYPES))
async def test_balance_of_each_service(gateway, serve_fake, service: str):
    fake = await serve_fake(FakeBalance(service))
    channel = await gateway.add_channel(fake.url, key=fake.key, type=int(TYPES[service]), name=f"bal-{service}")
    answer = await gateway.api("GET", f"/api/channel/update_balance/{channel['id']}")
    assert answer == {"success": True, "message": "", "balance": 42.5}
    stored = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert stored["balance"] == 42.5 and stored["balance_updated_time"] > 0
    if service == "openai_sb":
        assert fake.seen[-1] == {"api_key": fake.key}

    wrong = await gateway.add_channel(fake.url, key="sk-wrong", type=int(TYPES[service]), name=f"bad-{service}")
    refused = await gateway.api("GET", f"/api/channel/update_balance/{wrong['id']}")
    assert refused == {"success": False, "message": REFUSED[service]}
    assert (await gateway.api("GET", f"/api/channel/{wrong['id']}"))["data"]["balance"] == 0


async def test_update_all_refreshes_every_supported_type(gateway, serve_fake):
    fake = await serve_fake(FakeBalance("deepseek"))
    channel = await gateway.add_channel(fake.url, key=fake.key, type=int(ChannelType.DEEPSEEK), name="ds")
    assert (await gateway.api("GET", "/api/channel/update_balance"))["success"]
    assert (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]["balance"] == 42.5


async def test_unreachable_service_is_a_message(gateway):
    channel = await gateway.add_channel("http://127.0.0.1:9", key="k", type=int(ChannelType.OPENROUTER), name="gone")
    answer = await gateway.api("GET", f"/api/channel/update_balance/{channel['id']}")
    assert answer["success"] is False and answer["message"].startswith("查询余额失败："), answer
