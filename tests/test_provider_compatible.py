"""The OpenAI-compatible family (SPEC §4.1, §4.2, §4.11): every channel type relayed by the OpenAI adaptor.

Each type reaches the right upstream path on the channel's base URL with the channel's key (and OpenRouter's
extra headers), and without a base URL each type uses its documented default host.
"""

from __future__ import annotations

import pytest

from oneapi.adaptors.openai import upstream_url
from oneapi.adaptors.registry import native_types
from oneapi.constants import CHANNEL_TYPE_INFO, ChannelType, RelayMode
from oneapi.db.models import Channel
from tests.conftest import Gateway
from tests.fakes.compatible import FakeCompatible
from tests.providers import expected_quota, new_customer, offline_request

CT = ChannelType
# Types SPEC §4.1 gives a protocol of their own; the registry still sends them to the OpenAI adaptor.
OWN_PROTOCOL_NOT_BUILT = {CT.AIPROXY_LIBRARY, CT.AWS_CLAUDE, CT.COZE, CT.VERTEX_AI, CT.PROXY, CT.REPLICATE}
FAMILY = sorted(t for t in CT if t != CT.UNKNOWN and t not in native_types() and t not in OWN_PROTOCOL_NOT_BUILT)

# Upstream path for /v1/chat/completions and /v1/embeddings where it is not the client's path (SPEC §4.1).
PATHS: dict[int, tuple[str, str | None]] = {
    CT.MINIMAX: ("/v1/text/chatcompletion_v2", None),  # chat only
    CT.DOUBAO: ("/api/v3/chat/completions", "/api/v3/embeddings"),
    CT.NOVITA: ("/chat/completions", "/embeddings"),
    CT.BAIDU_V2: ("/v2/chat/completions", "/v2/embeddings"),
    CT.ALI_BAILIAN: ("/compatible-mode/v1/chat/completions", "/compatible-mode/v1/embeddings"),
    CT.OPENAI_COMPATIBLE: ("/chat/completions", "/embeddings"),
    CT.GEMINI_OPENAI_COMPATIBLE: ("/chat/completions", "/embeddings"),
}
OPENAI_PATHS = ("/v1/chat/completions", "/v1/embeddings")

# Default base URLs from SPEC §4.1 (a trailing '/' is trimmed; Custom and OpenAI-compatible have none).
DEFAULT_BASES: dict[int, str] = {
    CT.OPENAI: "https://api.openai.com", CT.API2D: "https://oa.api2d.net", CT.CLOSEAI: "https://api.closeai-proxy.xyz",
    CT.OPENAI_SB: "https://api.openai-sb.com", CT.OPENAI_MAX: "https://api.openaimax.com",
    CT.OHMYGPT: "https://api.ohmygpt.com", CT.CUSTOM: "", CT.AILS: "https://api.caipacity.com",
    CT.AIPROXY: "https://api.aiproxy.io", CT.API2GPT: "https://api.api2gpt.com", CT.AIGC2D: "https://api.aigc2d.com",
    CT.AI360: "https://ai.360.cn", CT.OPENROUTER: "https://openrouter.ai/api",
    CT.FASTGPT: "https://fastgpt.run/api/openapi", CT.MOONSHOT: "https://api.moonshot.cn",
    CT.BAICHUAN: "https://api.baichuan-ai.com", CT.MINIMAX: "https://api.minimax.chat",
    CT.MISTRAL: "https://api.mistral.ai", CT.GROQ: "https://api.groq.com/openai",
    CT.LINGYIWANWU: "https://api.lingyiwanwu.com", CT.STEPFUN: "https://api.stepfun.com",
    CT.DEEPSEEK: "https://api.deepseek.com", CT.TOGETHER_AI: "https://api.together.xyz",
    CT.DOUBAO: "https://ark.cn-beijing.volces.com", CT.NOVITA: "https://api.novita.ai/v3/openai",
    CT.SILICONFLOW: "https://api.siliconflow.cn", CT.XAI: "https://api.x.ai",
    CT.BAIDU_V2: "https://qianfan.baidubce.com", CT.XUNFEI_V2: "https://spark-api-open.xf-yun.com",
    CT.ALI_BAILIAN: "https://dashscope.aliyuncs.com", CT.OPENAI_COMPATIBLE: "",
    CT.GEMINI_OPENAI_COMPATIBLE: "https://generativelanguage.googleapis.com/v1beta/openai",
}


def upstream_paths(channel_type: int) -> tuple[str, str | None]:
    return PATHS.get(channel_type, OPENAI_PATHS)


def test_every_non_native_type_is_classified():
    assert set(FAMILY) == set(DEFAULT_BASES), "a channel type without a documented OpenAI-family behaviour"


async def test_every_family_type_reaches_its_path_on_the_channel_base_url(gateway: Gateway, serve_fake):
    vendor = await serve_fake(FakeCompatible(key="sk-family"))
    channels = {t: await gateway.add_channel(f"{vendor.url}/t{t}", key="sk-family", type=t,
                                             models=f"chat-{t},embed-{t}") for t in FAMILY}
    buyer = await new_customer(gateway)

    for channel_type, channel in channels.items():
        chat_path, embeddings_path = upstream_paths(channel_type)
        answer = await buyer.client.chat.completions.create(model=f"chat-{channel_type}",
                                                            messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "Hello from fake"
        assert vendor.paths[-1] == f"/t{channel_type}{chat_path}", channel_type
        headers = vendor.headers[-1]
        assert headers["Authorization"] == "Bearer sk-family"
        referer = (headers.get("HTTP-Referer"), headers.get("X-Title"))
        expected = ("https://github.com/songquanpeng/one-api", "One API") if channel_type == CT.OPENROUTER else \
            (None, None)
        assert referer == expected, channel_type
        [log] = [log for log in await buyer.logs() if log["model_name"] == f"chat-{channel_type}"]
        assert log["channel"] == channel["id"]
        assert log["quota"] == expected_quota(11, 7, f"chat-{channel_type}", channel_type)
        if embeddings_path is not None:
            await buyer.client.embeddings.create(model=f"embed-{channel_type}", input="text")
            assert vendor.paths[-1] == f"/t{channel_type}{embeddings_path}", channel_type


@pytest.mark.parametrize("channel_type", FAMILY, ids=lambda t: CT(t).name)
def test_an_empty_base_url_means_the_type_default(channel_type: int):
    default = DEFAULT_BASES[channel_type]
    assert CHANNEL_TYPE_INFO[CT(channel_type)][1].rstrip("/") == default
    if not default:
        return  # Custom and OpenAI-compatible channels must name their upstream
    channel = Channel(id=1, type=channel_type, key="k", base_url="", config=None, other=None)
    chat_path, embeddings_path = upstream_paths(channel_type)
    assert upstream_url(offline_request(channel, "/v1/chat/completions", RelayMode.CHAT)) == default + chat_path
    if embeddings_path is not None:
        request = offline_request(channel, "/v1/embeddings", RelayMode.EMBEDDINGS)
        assert upstream_url(request) == default + embeddings_path
