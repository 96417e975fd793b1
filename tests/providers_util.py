"""Helpers shared by the native-provider tests: serve a fake upstream, wire a channel and a token to it,
and read back what the request cost."""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import openai
from aiohttp.test_utils import TestServer

from oneapi.billing import ratios
from oneapi.options import Options
from tests.conftest import Gateway, start_fake

# An 8x8 red PNG, small enough to inline in a data URL.
RED_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEklEQVR4nGP4z8CAFWEXHbQSACj/P8Fu7N9hAAAAAElFTkSuQmCC"
RED_PNG_DATA_URL = f"data:image/png;base64,{RED_PNG_B64}"
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}


@asynccontextmanager
async def serving(fake: Any) -> AsyncIterator[Any]:
    """Run ``fake.app()`` on a free port; ``fake.url`` is its base URL while inside."""
    server: TestServer = await start_fake(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


@dataclass
class Wired:
    """A channel to a fake and a token that reaches it."""

    client: openai.AsyncOpenAI
    token_name: str
    channel: dict[str, Any]


async def wire(gateway: Gateway, fake: Any, channel_type: int, models: str, key: str | None = None,
               **channel_fields: Any) -> Wired:
    channel = await gateway.add_channel(fake.url, key=key if key is not None else fake.key, models=models,
                                        type=channel_type, **channel_fields)
    token_name = f"t{secrets.token_hex(4)}"
    token = await gateway.add_token(name=token_name)
    return Wired(gateway.openai(token), token_name, channel)


async def consume_logs(gateway: Gateway, token_name: str) -> list[dict[str, Any]]:
    """The consume logs of requests made with ``token_name``, newest first."""
    await gateway.drain()
    found = await gateway.api("GET", f"/api/log/?p=0&type=2&token_name={token_name}")
    assert found["success"], found
    return found["data"]


def expected_quota(prompt: int, completion: int, model: str, channel_type: int) -> int:
    """One API's price with the default ratios: ceil((prompt + completion × completion ratio) × model ratio)."""
    options = Options()
    model_ratio = ratios.model_ratio(options, model, channel_type)
    completion_ratio = ratios.completion_ratio(options, model, channel_type)
    group_ratio = ratios.group_ratio(options, "default")
    return math.ceil((prompt + completion * completion_ratio) * model_ratio * group_ratio)


async def assert_billed(gateway: Gateway, wired: Wired, model: str, channel_type: int, prompt: int,
                        completion: int, requests: int = 1) -> dict[str, Any]:
    """The newest of ``requests`` consume logs charged exactly (prompt, completion) at the default price."""
    logs = await consume_logs(gateway, wired.token_name)
    assert len(logs) == requests, logs
    log = logs[0]
    assert (log["prompt_tokens"], log["completion_tokens"]) == (prompt, completion)
    assert log["model_name"] == model
    assert log["quota"] == expected_quota(prompt, completion, model, channel_type) > 0
    return log
