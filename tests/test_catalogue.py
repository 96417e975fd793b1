"""The built-in data copied from One API: default models per channel type, the catalogue's owners, and the
price tables (SPEC §2.9, §3.2, §4.1)."""

from __future__ import annotations

import math

import pytest

from oneapi.billing import ratios
from oneapi.billing.defaults import DEFAULT_COMPLETION_RATIO, DEFAULT_MODEL_RATIO, RMB
from oneapi.catalogue import CATALOGUE_TYPES, MODELS_BY_TYPE, default_models, owners
from oneapi.constants import ChannelType
from oneapi.options import Options
from tests.conftest import Gateway

CT = ChannelType
WITHOUT_DEFAULTS = {CT.UNKNOWN, CT.COZE, CT.PROXY}  # Coze uses bot ids; Proxy forwards any path
SPEC_OWNERS = {"openai", "anthropic", "google palm", "google gemini", "baidu", "zhipu", "ali", "xunfei", "tencent",
               "ollama", "aws", "Cohere", "cloudflare", "deepl", "vertexai", "replicate", "360", "moonshot",
               "baichuan", "minimax", "mistralai", "groq", "lingyiwanwu", "stepfun", "deepseek", "together.ai",
               "doubao", "novita", "siliconflow", "xai", "baiduv2", "xunfeiv2"}


def test_every_channel_type_has_its_default_models():
    assert set(MODELS_BY_TYPE) == {t for t in CT if t not in WITHOUT_DEFAULTS}
    for channel_type, (owned_by, models) in MODELS_BY_TYPE.items():
        assert owned_by and models and len(set(models)) == len(models), channel_type
    assert default_models(CT.AI360) == ["360GPT_S2_V9", "embedding-bert-512-v1", "embedding_s1_v1",
                                        "semantic_similarity_s1_v1"]
    assert default_models(CT.DEEPL) == ["deepl-zh", "deepl-en", "deepl-ja"]
    assert default_models(CT.API2D) == default_models(CT.OPENAI) == default_models(CT.OPENAI_COMPATIBLE)
    assert "command-r-plus-internet" in default_models(CT.COHERE)
    assert default_models(CT.COZE) == [] and default_models(999) == []


def test_default_models_returns_a_copy():
    default_models(CT.OPENAI).append("mine")
    assert "mine" not in default_models(CT.OPENAI)


def test_catalogue_owners_follow_one_api_order_and_scope():
    catalogue = owners()
    assert set(catalogue.values()) == SPEC_OWNERS
    assert len(CATALOGUE_TYPES) == len(set(CATALOGUE_TYPES))
    # the first list that names a model owns it: adaptors by API type, then the compatible vendors
    assert catalogue["claude-3-5-sonnet-20241022"] == "anthropic"  # also in the AWS list
    assert catalogue["gemini-1.5-pro"] == "google gemini"  # also in the Gemini (OpenAI) list
    assert catalogue["llama3-8b-8192"] == "aws"  # AWS (an API type) comes before Groq (a vendor)
    assert catalogue["deepseek-r1"] == "ali"  # before Baidu V2
    # OpenRouter, AliBailian and Gemini (OpenAI) default lists are not in the catalogue
    assert "openrouter/auto" not in catalogue and "qwen-long" not in catalogue
    assert list(catalogue)[:2] == default_models(CT.OPENAI)[:2]


def test_price_table_is_one_api_s():
    assert RMB == 71  # USD / USD2RMB in Go integer arithmetic
    assert len(DEFAULT_MODEL_RATIO) >= 550
    assert sum("/" in name for name in DEFAULT_MODEL_RATIO) >= 230
    examples = {"gpt-3.5-turbo": 0.25, "gpt-4": 15, "gpt-4-32k": 30, "gpt-4-turbo": 5, "gpt-4o": 2.5,
                "gpt-4o-mini": 0.075, "o1": 7.5, "o1-preview": 7.5, "o1-mini": 1.5, "o3-mini": 1.5,
                "text-embedding-3-small": 0.01, "text-embedding-ada-002": 0.05, "text-embedding-3-large": 0.065,
                "whisper-1": 15, "tts-1": 7.5, "tts-1-hd": 15, "dall-e-2": 10, "dall-e-3": 20,
                "claude-3-5-sonnet-20241022": 1.5, "claude-3-opus-20240229": 7.5, "claude-3-haiku-20240307": 0.125,
                "gemini-1.5-pro": 0.625, "gemini-1.5-flash": 0.0375, "gemini-2.0-flash": 0.075,
                "ERNIE-4.0-8K": 8.52, "ERNIE-3.5-8K": 0.852, "glm-4-plus": 3.55, "glm-4-flash": 0,
                "qwen-turbo": 0.0213, "qwen-max": 0.1704, "SparkDesk-v3.5": 1.2858, "hunyuan-turbo": 1.065,
                "deepseek-chat": 0.07, "deepseek-reasoner": 0.275, "moonshot-v1-8k": 0.852,
                "openrouter/auto": -500000, "llama3-8b-8192(33)": 0.15, "command-r": 0.25, "deepl-zh": 12.5}
    assert {name: DEFAULT_MODEL_RATIO[name] for name in examples} == examples
    assert all(name.startswith("SparkDesk") for name, ratio in DEFAULT_MODEL_RATIO.items() if ratio == 1.2858)
    # Go divides its constants exactly (2.19 / 0.55 == 219 / 55), unlike Python's float division
    assert DEFAULT_COMPLETION_RATIO == {"llama3-8b-8192(33)": 2, "llama3-70b-8192(33)": 70 / 53, "whisper-1": 0,
                                       "deepseek-chat": 2, "deepseek-reasoner": 219 / 55}


@pytest.mark.parametrize(("model", "channel_type", "expected"), [
    ("gpt-3.5-turbo", 1, 3), ("gpt-3.5-turbo-0125", 1, 3), ("gpt-3.5-turbo-1106", 1, 2),
    ("gpt-3.5-turbo-16k", 1, 4 / 3), ("gpt-4o", 1, 4), ("gpt-4o-2024-05-13", 1, 3), ("gpt-4-turbo", 1, 3),
    ("gpt-4-0125-preview", 1, 3), ("gpt-4", 1, 2), ("o1-mini", 1, 4), ("o3-mini", 1, 1),
    ("chatgpt-4o-latest", 1, 3), ("claude-3-opus-20240229", 14, 5), ("claude-2.1", 14, 3),
    ("gemini-1.5-pro", 24, 3), ("mistral-large-latest", 28, 3), ("deepseek-coder", 36, 2),
    ("deepseek-reasoner", 36, 219 / 55), ("whisper-1", 1, 0), ("llama3-8b-8192", 29, 2),
    ("llama3-8b-8192", 33, 2), ("llama3-70b-8192", 29, 79 / 59), ("llama3-70b-8192", 33, 70 / 53),
    ("llama2-70b-4096", 29, 1.25), ("command-r", 35, 3), ("command-r-plus", 35, 5), ("command-light", 35, 2),
    ("command-r-internet", 35, 1), ("qwen-max-internet", 17, 1), ("grok-beta", 45, 3),
    ("ibm-granite/granite-3.0-2b-instruct", 46, 8.333333333333334), ("meta/llama-2-70b", 46, 2750 / 650),
    ("mistralai/mixtral-8x7b-instruct-v0.1", 46, 1000 / 300), ("meta/meta-llama-3.1-405b-instruct", 46, 1),
    ("ERNIE-4.0-8K", 15, 1), ("an-unknown-model", 1, 1)])
def test_completion_ratio_rules(model: str, channel_type: int, expected: float):
    assert ratios.completion_ratio(Options(), model, channel_type) == expected


def test_model_ratio_strips_internet_and_falls_back_to_30():
    options = Options()
    assert ratios.model_ratio(options, "qwen-max-internet", 17) == DEFAULT_MODEL_RATIO["qwen-max"]
    assert ratios.model_ratio(options, "command-r-internet", 35) == DEFAULT_MODEL_RATIO["command-r"]
    assert ratios.model_ratio(options, "llama3-8b-8192", 33) == 0.15
    assert ratios.model_ratio(options, "llama3-8b-8192", 29) == DEFAULT_MODEL_RATIO["llama3-8b-8192"]
    assert ratios.model_ratio(options, "no-such-model", 1) == 30
    assert math.isclose(DEFAULT_MODEL_RATIO["gemma-7b-it"], 0.07 / 1000000 * 500)


async def test_the_gateway_serves_these_lists(gateway: Gateway):
    by_type = (await gateway.api("GET", "/api/models"))["data"]
    assert by_type[str(int(CT.ALI))] == default_models(CT.ALI)
    assert by_type[str(int(CT.COHERE))] == default_models(CT.COHERE)
    async with gateway.http.get(gateway.url + "/api/channel/models",
                                headers={"Authorization": "0123456789abcdef0123456789abcdef"}) as resp:
        catalogue = (await resp.json())["data"]
    assert {entry["id"]: entry["owned_by"] for entry in catalogue} == owners()
