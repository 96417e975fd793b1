"""The channel test (SPEC §5.1) works for every channel type: ``GET|POST /api/channel/test/{id}`` sends the test
prompt through the type's own adaptor to a fake of its provider and answers with the model's reply, records the
channel's response and test times, and writes a test log (type 5). A wrong key fails the test with the
provider's own error text, whatever the transport: an HTTP JSON error, a refused signature or token exchange,
a bodyless refusal, a refused WebSocket handshake, an error frame on an open WebSocket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from oneapi.config import Settings
from oneapi.constants import ChannelType, LogType
from tests.conftest import Gateway
from tests.fakes.ali import FakeDashScope
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.baidu import FakeBaidu
from tests.fakes.cloudflare import FakeWorkersAI
from tests.fakes.cohere import FakeCohere
from tests.fakes.compatible import FakeCompatible
from tests.fakes.deepl import FakeDeepL
from tests.fakes.gemini import FakeGemini, FakePalm
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes.tencent import FakeTencent
from tests.fakes.xunfei import FakeXunfei
from tests.fakes.zhipu import FakeZhipu
from tests.test_provider_compatible import FAMILY, upstream_paths

CT = ChannelType
TEST_PROMPT = Settings().test_prompt


def own_key(fake: Any) -> str:
    return fake.key


def own_reply(fake: Any) -> str:
    return fake.reply


@dataclass(frozen=True)
class Probe:
    """A channel of ``type`` whose only model is ``model``, pointing at a served ``fake``."""

    type: ChannelType
    fake: Callable[[], Any]
    model: str
    key: Callable[[Any], str] = own_key
    config: str | None = None
    reply: Callable[[Any], str] = own_reply  # what the channel test must answer
    scheme: str = "http"  # the scheme of the channel's base URL

    @property
    def id(self) -> str:
        return f"{self.type.name}-{self.model}"


PROBES = [
    Probe(CT.OPENAI, FakeOpenAI, "gpt-4o-mini"),
    Probe(CT.AZURE, FakeAzure, "gpt-3.5-turbo", config='{"api_version": "2024-10-21"}'),
    Probe(CT.PALM, FakePalm, "chat-bison-001"),
    Probe(CT.ANTHROPIC, FakeAnthropic, "claude-3-haiku-20240307"),
    Probe(CT.BAIDU, FakeBaidu, "ERNIE-3.5-8K"),  # key AK|SK, exchanged for an access token
    Probe(CT.ZHIPU, FakeZhipu, "glm-4"),  # key id.secret, signed into a JWT; v4 API
    Probe(CT.ZHIPU, FakeZhipu, "chatglm_turbo"),  # v3 invoke API
    Probe(CT.ALI, FakeDashScope, "qwen-max"),
    Probe(CT.XUNFEI, FakeXunfei, "SparkDesk-v3.5", scheme="ws"),  # key APPID|APISecret|APIKey, WebSocket
    Probe(CT.AI360, FakeCompatible, "360GPT_S2_V9"),
    Probe(CT.TENCENT, FakeTencent, "hunyuan-turbo"),  # key AppId|SecretId|SecretKey, TC3 signature
    Probe(CT.GEMINI, FakeGemini, "gemini-1.5-flash"),
    Probe(CT.OLLAMA, FakeOllama, "llama3:latest", key=lambda _: "no-key-needed"),
    Probe(CT.COHERE, FakeCohere, "command-r"),
    Probe(CT.CLOUDFLARE, FakeWorkersAI, "@cf/meta/llama-3-8b-instruct", key=lambda fake: fake.token,
          config=json.dumps({"user_id": FakeWorkersAI.account_id})),
    Probe(CT.DEEPL, FakeDeepL, "deepl-zh", reply=lambda _: f"ZH: {TEST_PROMPT}"),  # translates the prompt
    Probe(CT.BAIDU_V2, FakeCompatible, "ernie-4.0-8k"),
    Probe(CT.XUNFEI_V2, FakeCompatible, "generalv3.5"),
    Probe(CT.ALI_BAILIAN, FakeCompatible, "qwen-plus"),
    Probe(CT.OPENAI_COMPATIBLE, FakeCompatible, "any-model"),
]


@dataclass(frozen=True)
class Refusal:
    """``probe``'s channel with ``wrong_key``: the test fails with ``error`` in its message."""

    transport: str
    probe: Probe
    wrong_key: Callable[[Any], str]
    error: str


def tabled(channel_type: ChannelType) -> Probe:
    return next(probe for probe in PROBES if probe.type == channel_type)


REFUSALS = [
    Refusal("http-json", tabled(CT.ANTHROPIC), lambda _: "sk-ant-wrong",
            "http status code: 401, error message: invalid x-api-key"),
    Refusal("http-signed", tabled(CT.TENCENT), lambda fake: f"{fake.app_id}|{fake.secret_id}|not-the-secret",
            "http status code: 401, error message: The provided credentials could not be validated."),
    Refusal("http-token-exchange", tabled(CT.BAIDU), lambda fake: f"{fake.api_key}|not-the-secret",
            "http status code: 401, error message: Baidu refused the access token request: Client authentication "
            "failed"),
    Refusal("http-bodyless", tabled(CT.DEEPL), lambda _: "not-a-key:fx", "http status code: 403"),
    # aiohttp drops the body of a refused WebSocket upgrade, so the gateway names the likely cause itself
    Refusal("websocket-handshake", tabled(CT.XUNFEI), lambda fake: f"{fake.app_id}|{'x' * 32}|{fake.api_key}",
            "Xunfei refused the connection (HTTP 401)"),
    Refusal("websocket-frame", tabled(CT.XUNFEI), lambda fake: f"not-the-app|{fake.api_secret}|{fake.api_key}",
            "Spark error 11200: 授权错误：该appId没有相关功能的授权"),
]


async def add_probed_channel(gateway: Gateway, serve_fake: Callable[[Any], Any], probe: Probe,
                             key: Callable[[Any], str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Serve ``probe``'s fake and add its channel through the admin API (with ``key`` instead of the right one)."""
    fake = await serve_fake(probe.fake())
    base_url = fake.url.replace("http://", f"{probe.scheme}://")
    extra = {"config": probe.config} if probe.config else {}
    channel = await gateway.add_channel(base_url, key=(key or probe.key)(fake), models=probe.model, type=probe.type,
                                        **extra)
    return fake, channel


async def channel_test_logs(gateway: Gateway, channel_id: int) -> list[dict[str, Any]]:
    await gateway.drain()
    found = await gateway.api("GET", f"/api/log/?type={int(LogType.TEST)}&channel={channel_id}")
    assert found["success"], found
    return found["data"]


@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.id)
async def test_the_channel_test_answers_with_the_provider_reply(gateway: Gateway, serve_fake, probe: Probe):
    fake, channel = await add_probed_channel(gateway, serve_fake, probe)
    before = int(time.time())

    by_get = await gateway.api("GET", f"/api/channel/test/{channel['id']}?model={probe.model}")
    by_post = await gateway.api("POST", f"/api/channel/test/{channel['id']}")  # no model: the channel's first

    reply = probe.reply(fake)
    assert by_get == {"success": True, "message": reply, "time": by_get["time"], "modelName": probe.model}
    assert by_post["success"] is True and by_post["message"] == reply, by_post
    stored = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert stored["test_time"] >= before and stored["response_time"] > 0
    logs = await channel_test_logs(gateway, channel["id"])
    assert [(log["content"], log["model_name"]) for log in logs] == [
        (f"渠道 {channel['name']} 测试成功，响应：{reply}", probe.model)] * 2


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: f"{refusal.transport}-{refusal.probe.type.name}")
async def test_a_wrong_key_fails_the_test_with_the_provider_error(gateway: Gateway, serve_fake, refusal: Refusal):
    _, channel = await add_probed_channel(gateway, serve_fake, refusal.probe, key=refusal.wrong_key)
    before = int(time.time())

    answer = await gateway.api("POST", f"/api/channel/test/{channel['id']}?model={refusal.probe.model}")

    assert answer["success"] is False and refusal.error in answer["message"], answer
    stored = (await gateway.api("GET", f"/api/channel/{channel['id']}"))["data"]
    assert stored["test_time"] >= before and stored["response_time"] == 0
    [log] = await channel_test_logs(gateway, channel["id"])
    assert log["content"] == f"渠道 {channel['name']} 测试失败，错误：{answer['message']}"


async def test_every_other_openai_family_type_tests_on_its_own_path(gateway: Gateway, serve_fake):
    vendor = await serve_fake(FakeCompatible(key="sk-family"))
    in_the_table = {probe.type for probe in PROBES}
    for channel_type in [t for t in FAMILY if t not in in_the_table]:
        channel = await gateway.add_channel(f"{vendor.url}/t{channel_type}", key="sk-family", type=channel_type,
                                            models=f"chat-{channel_type}")

        answer = await gateway.api("POST", f"/api/channel/test/{channel['id']}")

        assert answer["success"] is True and answer["message"] == vendor.reply, (channel_type, answer)
        assert vendor.paths[-1] == f"/t{channel_type}{upstream_paths(channel_type)[0]}"
        assert vendor.requests[-1]["model"] == f"chat-{channel_type}"
        assert len(await channel_test_logs(gateway, channel["id"])) == 1
