"""Channel type -> adaptor. The only file that changes when a provider is added."""

from __future__ import annotations

import importlib

from oneapi.adaptors.base import Adaptor
from oneapi.constants import ChannelType

# Provider modules by channel type; every type not listed speaks OpenAI's protocol (adaptors/openai.py).
_NATIVE: dict[int, str] = {
    ChannelType.AZURE: "azure",
    ChannelType.PALM: "palm",
    ChannelType.ANTHROPIC: "anthropic",
    ChannelType.BAIDU: "baidu",
    ChannelType.ZHIPU: "zhipu",
    ChannelType.ALI: "ali",
    ChannelType.XUNFEI: "xunfei",
    ChannelType.TENCENT: "tencent",
    ChannelType.GEMINI: "gemini",
    ChannelType.OLLAMA: "ollama",
    ChannelType.COHERE: "cohere",
    ChannelType.CLOUDFLARE: "cloudflare",
    ChannelType.DEEPL: "deepl",
}

_instances: dict[str, Adaptor] = {}


def adaptor_for(channel_type: int) -> Adaptor:
    module = _NATIVE.get(channel_type, "openai")
    adaptor = _instances.get(module)
    if adaptor is None:
        adaptor = importlib.import_module(f"oneapi.adaptors.{module}").ADAPTOR
        _instances[module] = adaptor
    return adaptor


def native_types() -> dict[int, str]:
    return dict(_NATIVE)

