"""/api/channel/*: batch creation, edits that reach routing at once, keys that never come back out,
channel tests against a real OpenAI-shaped upstream, and balances."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

import openai
import pytest
from aiohttp import web

from oneapi.api.channel import CHANNEL_TESTER
from oneapi.constants import LogType
from oneapi.db.models import Ability
from tests.fakes.server import FakeServer

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]}


async def _abilities(gateway, channel_id: int) -> list[tuple[str, str, bool]]:
    rows = await gateway.state.dbs.main.list(Ability.select().where(Ability.channel_id == channel_id))
    await gateway.state.dbs.release()
    return sorted((r.group, r.model, bool(r.enabled)) for r in rows)


async def test_batch_create_one_channel_per_key_line_and_keys_never_come_back(gateway, fake_openai):
    body = {"type": 1, "name": "batch", "key": "sk-upstream\nsk-second\n\n  \nsk-third", "base_url": fake_openai.url,
            "models": "gpt-3.5-turbo,gpt-4o", "group": "default,vip"}
    created = await gateway.api("POST", "/api/channel/", body)
    assert created["success"], created
    found = (await gateway.api("GET", "/api/channel/search?keyword=batch"))["data"]
    assert len(found) == 3 and {c["name"] for c in found} == {"batch"}
    assert all(c["key"] == "" for c in found)
    assert all(c["models"] == "gpt-3.5-turbo,gpt-4o" and c["status"] == 1 for c in found)
    assert await _abilities(gateway, found[0]["id"]) == [
        ("default", "gpt-3.5-turbo", True), ("default", "gpt-4o", True),
        ("vip", "gpt-3.5-turbo", True), ("vip", "gpt-4o", True)]
    for channel in found:
        assert (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]["key"] == ""
    listed = (await gateway.api("GET", "/api/channel/"))["data"]
    assert all(c["key"] == "" for c in listed)
    by_id = (await gateway.api("GET", f"/api/channel/search?keyword={found[1]['id']}"))["data"]
    assert found[1]["id"] in [c["id"] for c in by_id]
    # the keys were stored: pinning each channel reaches the fake, which accepts only sk-upstream
    root_key = await gateway.add_token()
    statuses = []
    for channel in sorted(found, key=lambda c: c["id"]):
        async with gateway.http.post(gateway.url + "/v1/chat/completions", json=CHAT,
                                     headers={"Authorization": f"Bearer {root_key}-{channel['id']}"}) as resp:
            statuses.append(resp.status)
    assert statuses == [200, 401, 401]
    assert fake_openai.headers[-1]["Authorization"] == "Bearer sk-third"


async def test_list_pages_by_ten_id_desc(gateway, fake_openai):
    await gateway.api("POST", "/api/channel/", {"type": 1, "name": "many", "base_url": fake_openai.url,
                                                "models": "gpt-4o", "key": "\n".join(f"k{i}" for i in range(12))})
    page0 = (await gateway.api("GET", "/api/channel/?p=0"))["data"]
    page1 = (await gateway.api("GET", "/api/channel/?p=1"))["data"]
    ids = [c["id"] for c in page0 + page1]
    assert len(page0) == 10 and len(page1) == 2 and ids == sorted(ids, reverse=True)
    assert (await gateway.api("GET", "/api/channel/?p=2"))["data"] == []


async def test_update_keeps_the_key_rebuilds_abilities_and_routes_at_once(gateway, fake_openai):
    user = await gateway.add_user()
    channel = await gateway.add_channel(fake_openai.url, models="gpt-3.5-turbo", priority=3)
    client = gateway.openai(await gateway.add_token(user["access_token"]))
    assert (await client.chat.completions.create(**CHAT)).choices[0].message.content == "Hello from fake"

    # a partial body, as the UI's enable/disable switch sends it
    answer = await gateway.api("PUT", "/api/channel/", {"id": channel["id"], "status": 2})
    assert answer["success"] and answer["data"]["status"] == 2 and answer["data"]["key"] == ""
    assert answer["data"]["priority"] == 3 and answer["data"]["models"] == "gpt-3.5-turbo"
    assert await _abilities(gateway, channel["id"]) == [("default", "gpt-3.5-turbo", False)]
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(**CHAT)
    assert refused.value.status_code == 503

    # a full edit with an empty key keeps the stored key; new models route at once
    channel.update(status=1, key="", models="gpt-4o,o1", priority=0, model_mapping='{"o1": "gpt-4o"}')
    answer = await gateway.api("PUT", "/api/channel/", channel)
    assert answer["success"], answer
    assert answer["data"]["priority"] == 0  # a nullable column takes zero
    assert await _abilities(gateway, channel["id"]) == [("default", "gpt-4o", True), ("default", "o1", True)]
    reply = await client.chat.completions.create(**{**CHAT, "model": "o1"})
    assert reply.choices[0].message.content == "Hello from fake"
    assert fake_openai.requests[-1]["model"] == "gpt-4o"
    with pytest.raises(openai.APIStatusError):
        await client.chat.completions.create(**CHAT)

    for bad, message in (({"model_mapping": "{not json"}, "model_mapping must be a JSON object"),
                         ({"config": "[1]"}, "config must be a JSON object"),
                         ({"status": 9}, "status must be 0, 1, 2 or 3"),
                         ({"priority": "high"}, "priority must be a 64-bit integer"),
                         ({"priority": 2**64}, "priority must be a 64-bit integer")):
        assert await gateway.api("PUT", "/api/channel/", {"id": channel["id"], **bad}) == {
            "success": False, "message": message}
    assert (await gateway.api("PUT", "/api/channel/", {"id": 999999, "name": "x"}))["message"] == "渠道不存在"
    assert (await gateway.api("PUT", "/api/channel/", {"name": "x"}))["message"] == "无效的参数"


async def test_delete_and_delete_disabled_remove_abilities_too(gateway, fake_openai):
    keep = await gateway.add_channel(fake_openai.url, name="keep")
    gone = await gateway.add_channel(fake_openai.url, name="gone")
    manual = await gateway.add_channel(fake_openai.url, name="manual", status=2)
    auto = await gateway.add_channel(fake_openai.url, name="auto", status=3)
    assert await gateway.api("DELETE", f"/api/channel/{gone['id']}") == {"success": True, "message": ""}
    assert await _abilities(gateway, gone["id"]) == []
    assert (await gateway.api("GET", f"/api/channel/{gone['id']}"))["message"] == "渠道不存在"
    assert (await gateway.api("DELETE", f"/api/channel/{gone['id']}"))["message"] == "渠道不存在"
    assert await gateway.api("DELETE", "/api/channel/disabled") == {"success": True, "message": "", "data": 2}
    for channel in (manual, auto):
        assert await _abilities(gateway, channel["id"]) == []
    remaining = [c["id"] for c in (await gateway.api("GET", "/api/channel/"))["data"]]
    assert remaining == [keep["id"]]


async def test_channel_models_is_the_catalogue_without_envelope(gateway):
    async with gateway.http.get(gateway.url + "/api/channel/models",
                                headers={"Authorization": "0123456789abcdef0123456789abcdef"}) as resp:
        body = await resp.json()
    assert set(body) == {"object", "data"} and body["object"] == "list"
    ids = {m["id"] for m in body["data"]}
    assert {"gpt-3.5-turbo", "gpt-4o", "dall-e-3"} <= ids
    assert all(m["object"] == "model" for m in body["data"])


async def test_channel_test_success_and_failure_with_logs(gateway, fake_openai):
    good = await gateway.add_channel(fake_openai.url, name="good", models="gpt-4o-mini,gpt-4o")
    bad = await gateway.add_channel(fake_openai.url, name="bad", key="sk-wrong", models="gpt-4o")
    before = int(time.time())

    answer = await gateway.api("GET", f"/api/channel/test/{good['id']}?model=gpt-4o")
    assert answer["success"] is True and answer["message"] == "Hello from fake" and answer["modelName"] == "gpt-4o"
    assert isinstance(answer["time"], float) and answer["time"] > 0
    sent = fake_openai.requests[-1]
    assert sent["model"] == "gpt-4o" and not sent.get("stream")
    assert sent["messages"] == [{"role": "user",
                                 "content": "Output only your specific model name with no additional text."}]
    # an unknown model falls back to the channel's first one
    answer = await gateway.api("POST", f"/api/channel/test/{good['id']}?model=claude-3")
    assert answer["success"] and fake_openai.requests[-1]["model"] == "gpt-4o-mini"
    stored = (await gateway.api("GET", f"/api/channel/{good['id']}"))["data"]
    assert stored["test_time"] >= before and stored["response_time"] > 0

    failed = await gateway.api("GET", f"/api/channel/test/{bad['id']}")
    assert failed["success"] is False
    assert failed["message"] == "http status code: 401, error message: Incorrect API key provided"
    stored = (await gateway.api("GET", f"/api/channel/{bad['id']}"))["data"]
    assert stored["test_time"] >= before and stored["response_time"] == 0

    await gateway.drain()
    logs = (await gateway.api("GET", f"/api/log/?type={int(LogType.TEST)}"))["data"]
    by_channel = {(entry["channel"], entry["content"]) for entry in logs}
    assert (good["id"], "渠道 good 测试成功，响应：Hello from fake") in by_channel
    assert (bad["id"], "渠道 bad 测试失败，错误：http status code: 401, error message: Incorrect API key provided") in (
        by_channel)
    assert all(entry["user_id"] == 0 and entry["username"] == "" for entry in logs)
    only_bad = (await gateway.api("GET", f"/api/log/?type=5&channel={bad['id']}"))["data"]
    assert [entry["model_name"] for entry in only_bad] == ["gpt-4o"]
    assert (await gateway.api("GET", "/api/channel/test/424242"))["message"] == "渠道不存在"


async def test_channel_test_reports_an_unreachable_upstream(gateway):
    channel = await gateway.add_channel("http://127.0.0.1:9", name="nowhere")
    answer = await gateway.api("GET", f"/api/channel/test/{channel['id']}")
    assert answer["success"] is False and "could not be reached" in answer["message"]


async def test_bulk_test_disables_failing_and_re_enables_only_auto_disabled(gateway, make_fake_openai):
    healthy = await make_fake_openai()
    broken = await make_fake_openai(key="other-key")
    for key in ("AutomaticDisableChannelEnabled", "AutomaticEnableChannelEnabled"):
        assert (await gateway.api("PUT", "/api/option/", {"key": key, "value": "true"}))["success"]
    failing = await gateway.add_channel(broken.url, name="failing")
    auto_off = await gateway.add_channel(healthy.url, name="auto-off", status=3)
    manual_off = await gateway.add_channel(healthy.url, name="manual-off", status=2)
    fine = await gateway.add_channel(healthy.url, name="fine")

    assert await gateway.api("GET", "/api/channel/test") == {"success": True, "message": ""}
    assert await gateway.api("GET", "/api/channel/test") == {"success": False, "message": "测试已在运行中"}
    await gateway.app[CHANNEL_TESTER].wait()
    statuses = {c["name"]: c["status"] for c in (await gateway.api("GET", "/api/channel/"))["data"]}
    assert statuses == {"failing": 3, "auto-off": 1, "manual-off": 2, "fine": 1}
    assert all(c["test_time"] > 0 for c in (await gateway.api("GET", "/api/channel/"))["data"])
    assert await _abilities(gateway, failing["id"]) == [("default", "gpt-3.5-turbo", False)]
    assert await _abilities(gateway, auto_off["id"]) == [("default", "gpt-3.5-turbo", True)]
    assert manual_off["id"] and fine["id"]

    # scope=disabled tests only disabled channels
    requests_before = len(healthy.requests)
    assert (await gateway.api("GET", "/api/channel/test?scope=disabled"))["success"]
    await gateway.app[CHANNEL_TESTER].wait()
    assert len(healthy.requests) - requests_before == 1  # manual-off only; failing hits the broken fake


@dataclass
class FakeBilling(FakeServer):
    """OpenAI's legacy dashboard billing endpoints: subscription (USD limits) and usage (cents)."""

    key: str
    hard_limit: float
    usage_cents: float
    has_payment_method: bool
    queries: list[dict[str, str]] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v1/dashboard/billing/subscription", self.subscription),
                web.get("/v1/dashboard/billing/usage", self.usage)]

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.key}"

    async def subscription(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        return web.json_response({"object": "billing_subscription", "has_payment_method": self.has_payment_method,
                                  "soft_limit_usd": self.hard_limit, "hard_limit_usd": self.hard_limit,
                                  "system_hard_limit_usd": self.hard_limit, "access_until": 0})

    async def usage(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        self.queries.append(dict(request.query))
        return web.json_response({"object": "list", "total_usage": self.usage_cents})


async def test_update_balance_reads_openai_billing(gateway, serve_fake):
    billing = await serve_fake(FakeBilling("sk-billing", hard_limit=120.0, usage_cents=2050.0,
                                           has_payment_method=False))
    channel = await gateway.add_channel(billing.url, key="sk-billing", name="billed")
    answer = await gateway.api("GET", f"/api/channel/update_balance/{channel['id']}")
    assert answer == {"success": True, "message": "", "balance": 99.5}
    today = datetime.datetime.now(datetime.UTC).date()
    assert billing.queries[-1] == {"start_date": str(today - datetime.timedelta(days=100)),
                                   "end_date": str(today)}
    stored = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert stored["balance"] == 99.5 and stored["balance_updated_time"] > 0
    billing.has_payment_method = True
    assert (await gateway.api("GET", "/api/channel/update_balance"))["success"]
    assert billing.queries[-1]["start_date"] == str(today.replace(day=1))
    wrong = await gateway.add_channel(billing.url, key="sk-nope", name="wrong")
    assert await gateway.api("GET", f"/api/channel/update_balance/{wrong['id']}") == {
        "success": False, "message": "status code: 401"}
    azure = await gateway.add_channel("https://example.invalid", type=3, name="azure")
    assert await gateway.api("GET", f"/api/channel/update_balance/{azure['id']}") == {
        "success": False, "message": "尚未实现"}
