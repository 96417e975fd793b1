"""One channel of each provider, as data, for the tests that ask every provider the same thing.

A case knows its fake upstream, the channel that reaches it and the models to ask for; ``case.wire`` serves a
new fake and returns it with a customer whose token reaches that channel. Tests parametrize over ``CASES``
(or a subset by name) instead of repeating one test body per provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure import FakeAzure
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_upstream import FakeOpenAI
from tests.providers import Customer, customer


@dataclass(frozen=True)
class Case:
    name: str
    make_fake: Callable[[], Any]
    channel_type: int
    chat_model: str
    key: Callable[[Any], str] = lambda fake: fake.key
    channel_fields: dict[str, Any] = field(default_factory=dict)

    async def wire(self, gateway: Gateway, serve_fake: Callable[[Any], Any]) -> tuple[Any, Customer]:
        fake = await serve_fake(self.make_fake())
        buyer = await customer(gateway, fake.url, self.channel_type, self.key(fake), self.chat_model,
                               **self.channel_fields)
        return fake, buyer


CASES = {case.name: case for case in (
    Case("openai", FakeOpenAI, ChannelType.OPENAI, "gpt-4o-mini"),
    Case("azure", FakeAzure, ChannelType.AZURE, "gpt-4o", channel_fields={"config": '{"api_version": "2024-10-21"}'}),
    Case("anthropic", FakeAnthropic, ChannelType.ANTHROPIC, "claude-3-5-haiku-20241022"),
    Case("gemini", FakeGemini, ChannelType.GEMINI, "gemini-2.0-flash"),
)}


def cases(*names: str) -> Any:
    """``@cases("openai", "gemini")``: the test runs once per named provider (every provider when none named),
    with the case as its ``case`` argument."""
    chosen = [CASES[name] for name in names] if names else list(CASES.values())
    return pytest.mark.parametrize("case", chosen, ids=[case.name for case in chosen])
