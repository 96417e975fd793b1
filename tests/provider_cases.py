"""One channel of each provider, as data, for the tests that ask every provider the same thing.

A case knows its fake upstream, the channel that reaches it and the models to ask for; ``case.wire`` serves a
new fake and returns it with a customer whose token reaches that channel. Tests parametrize over ``CASES``
(or a subset by name) instead of repeating one test body per provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from oneapi.constants import ChannelType
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
from tests.providers import Customer, customer


@dataclass(frozen=True)
class Case:
    name: str
    make_fake: Callable[[], Any]
    channel_type: int
    chat_model: str
    embedding_model: str | None = None  # None: the provider has no embeddings
    tools: bool = False  # the provider (and its fake) calls tools
    dimensions: bool = False  # the provider shortens embeddings to the ``dimensions`` asked for
    key: Callable[[Any], str] = lambda fake: fake.key
    # A key the provider refuses, or None when it checks none (then a model it lacks makes it refuse).
    wrong_key: Callable[[Any], str | None] = lambda fake: "wrong-key"
    channel_fields: Callable[[Any], dict[str, Any]] = lambda fake: {}

    async def wire(self, gateway: Gateway, serve_fake: Callable[[Any], Any],
                   refused: bool = False) -> tuple[Any, Customer]:
        """A new fake and a customer of a channel to it (one the fake refuses with ``refused``)."""
        fake = await serve_fake(self.make_fake())
        key = self.wrong_key(fake) if refused else self.key(fake)
        models = ",".join(filter(None, (self.chat_model, self.embedding_model)))
        buyer = await customer(gateway, fake.url, self.channel_type, key or self.key(fake),
                               models if key or not refused else f"{models},{MISSING_MODEL}",
                               **self.channel_fields(fake))
        return fake, buyer

    def refused_model(self, fake: Any) -> str:
        """The model to ask for so that the refusing channel's upstream answers an error."""
        return self.chat_model if self.wrong_key(fake) else MISSING_MODEL


MISSING_MODEL = "missing-model:1b"
CASES = {case.name: case for case in (
    Case("openai", FakeOpenAI, ChannelType.OPENAI, "gpt-4o-mini", "text-embedding-3-small", dimensions=True),
    Case("deepseek", lambda: FakeCompatible(base64_embeddings=False), ChannelType.DEEPSEEK, "deepseek-chat",
         "text-embedding-3-small"),
    Case("azure", FakeAzure, ChannelType.AZURE, "gpt-4o", "text-embedding-3-small", tools=True, dimensions=True,
         channel_fields=lambda fake: {"config": '{"api_version": "2024-10-21"}'}),
    Case("anthropic", FakeAnthropic, ChannelType.ANTHROPIC, "claude-3-5-haiku-20241022", tools=True),
    Case("gemini", FakeGemini, ChannelType.GEMINI, "gemini-2.0-flash", "text-embedding-004", tools=True,
         dimensions=True),
    Case("palm", FakePalm, ChannelType.PALM, "chat-bison-001"),
    Case("zhipu", FakeZhipu, ChannelType.ZHIPU, "glm-4", "embedding-2", tools=True, dimensions=True,
         wrong_key=lambda fake: f"{fake.api_id}.not-the-secret"),
    Case("baidu", FakeBaidu, ChannelType.BAIDU, "ERNIE-3.5-8K", "Embedding-V1",
         wrong_key=lambda fake: f"{fake.api_key}|wrong-secret"),
    Case("xunfei", FakeXunfei, ChannelType.XUNFEI, "SparkDesk-v3.5",
         wrong_key=lambda fake: f"{fake.app_id}|{'x' * 32}|{fake.api_key}"),
    Case("tencent", FakeTencent, ChannelType.TENCENT, "hunyuan-turbo", "hunyuan-embedding",
         wrong_key=lambda fake: f"{fake.app_id}|{fake.secret_id}|wrong-secret"),
    Case("ali", FakeDashScope, ChannelType.ALI, "qwen-max", "text-embedding-v1", tools=True, dimensions=True),
    Case("ollama", FakeOllama, ChannelType.OLLAMA, "llama3:latest", "nomic-embed-text", dimensions=True,
         key=lambda fake: "no-key-needed", wrong_key=lambda fake: None),
    Case("cohere", FakeCohere, ChannelType.COHERE, "command-r", tools=True),
    Case("cloudflare", FakeWorkersAI, ChannelType.CLOUDFLARE, "@cf/meta/llama-3-8b-instruct",
         "@cf/baai/bge-base-en-v1.5", key=lambda fake: fake.token,
         channel_fields=lambda fake: {"config": orjson.dumps({"user_id": fake.account_id}).decode()}),
    Case("deepl", FakeDeepL, ChannelType.DEEPL, "deepl-zh"),
)}


def cases(*names: str, having: Callable[[Case], Any] = lambda case: True) -> Any:
    """``@cases("openai", "gemini")``: the test runs once per named provider (every provider when none named;
    only those ``having`` something), with the case as its ``case`` argument."""
    chosen = [case for case in ([CASES[name] for name in names] if names else CASES.values()) if having(case)]
    return pytest.mark.parametrize("case", chosen, ids=[case.name for case in chosen])
