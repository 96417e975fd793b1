"""Notifications: the low-quota mail once per crossing of QuotaRemindThreshold, and root told by mail and
Message Pusher when a channel is disabled or re-enabled automatically. Mail goes to a real SMTP server."""

from __future__ import annotations

import asyncio

import openai
import pytest

from oneapi.accounts import notify
from tests.accounts_util import set_options
from tests.fakes.message_pusher import FakeMessagePusher
from tests.fakes.smtp import FakeSMTP

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def smtp(tmp_path):
    server = await FakeSMTP().start(tmp_path)
    yield server
    await server.close()


async def settled(gateway) -> None:
    """Every charge written and every notification it caused handed to the SMTP server or pusher."""
    await gateway.drain()
    await notify.drain()


async def test_low_quota_mail_once_per_crossing(make_gateway, fake_openai, smtp: FakeSMTP):
    gateway = await make_gateway(SMTP_CA_FILE=smtp.ca_file)
    quota = 10**6
    await set_options(gateway, **smtp.options(), QuotaRemindThreshold=quota - 1, ServerAddress="https://gw.example")
    await gateway.add_channel(fake_openai.url)
    user = await gateway.add_user(quota=quota)
    assert (await gateway.api("PUT", "/api/user/", {**user, "email": "low@example.com"}))["success"]
    client = gateway.openai(await gateway.add_token(user["access_token"]))

    await client.chat.completions.create(**CHAT)
    await settled(gateway)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["low@example.com"] and mail.message["Subject"] == "额度提醒"
    html = smtp.last_html()
    assert "您的额度即将用尽" in html and "https://gw.example/topup" in html

    await client.chat.completions.create(**CHAT)
    await settled(gateway)
    assert len(smtp.messages) == 1, "still below the threshold: no second mail"

    assert (await gateway.api("POST", "/api/topup", {"user_id": user["id"], "quota": 10**5}))["success"]
    await client.chat.completions.create(**CHAT)
    await settled(gateway)
    assert len(smtp.messages) == 1, "topped up above the threshold, and this charge did not cross it"
    me = (await gateway.api("GET", "/api/user/self", token=user["access_token"]))["data"]
    await set_options(gateway, QuotaRemindThreshold=me["quota"])
    await client.chat.completions.create(**CHAT)
    await settled(gateway)
    assert len(smtp.messages) == 2, "a new crossing, a new mail"


async def test_root_hears_of_auto_disabled_and_re_enabled_channels(make_gateway, make_fake_openai, serve_fake,
                                                                   smtp: FakeSMTP):
    pusher = await serve_fake(FakeMessagePusher())
    upstream = await make_fake_openai()
    gateway = await make_gateway(SMTP_CA_FILE=smtp.ca_file)
    await set_options(gateway, **smtp.options(), MessagePusherAddress=pusher.address,
                      MessagePusherToken=pusher.token, AutomaticDisableChannelEnabled=True,
                      AutomaticEnableChannelEnabled=True)
    root = (await gateway.api("GET", "/api/user/self"))["data"]
    assert (await gateway.api("PUT", "/api/user/", {**root, "email": "root@example.com", "password": ""}))["success"]
    channel = await gateway.add_channel(upstream.url, name="flaky")
    client = gateway.openai(await gateway.add_token())

    upstream.fail_next(401, "Incorrect API key provided", type_="invalid_request_error", code="invalid_api_key")
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(**CHAT)
    pushed = await asyncio.wait_for(pusher.messages.get(), 30)
    assert pushed["title"] == f"渠道「flaky」（#{channel['id']}）已被禁用"
    assert "Incorrect API key provided" in pushed["content"]
    await notify.drain()
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["root@example.com"] and mail.message["Subject"] == pushed["title"]

    assert (await gateway.api("GET", "/api/channel/test?scope=disabled"))["success"]
    enabled = await asyncio.wait_for(pusher.messages.get(), 30)
    assert enabled["title"] == f"渠道「flaky」（#{channel['id']}）已被启用"
    assert (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]["status"] == 1
