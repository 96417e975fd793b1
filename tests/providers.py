"""What the provider tests share: a user holding a token for one channel, and the bill to expect.

The expected quota is computed from ``oneapi.billing.ratios`` with the default options, i.e. with One API's
price tables, from the token counts the fake upstream reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import openai

from oneapi.adaptors.base import RelayRequest
from oneapi.billing import ratios
from oneapi.constants import RelayMode
from oneapi.db.models import Channel
from oneapi.options import Options
from oneapi.relay.pipeline import upstream_for
from tests.conftest import Gateway


@dataclass
class Customer:
    """A user of the gateway with one token."""

    gateway: Gateway
    user: dict[str, Any]
    key: str

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self.gateway.openai(self.key)

    async def logs(self) -> list[dict[str, Any]]:
        """The user's consume logs, once the ledger has written them."""
        await self.gateway.drain()
        found = await self.gateway.api("GET", f"/api/log/?type=2&username={self.user['username']}")
        return found["data"]

    async def quota_left(self) -> int:
        await self.gateway.drain()
        return (await self.gateway.api("GET", f"/api/user/{self.user['id']}"))["data"]["quota"]


async def new_customer(gateway: Gateway, quota: int = 10**9) -> Customer:
    user = await gateway.add_user(quota=quota)
    return Customer(gateway, user, await gateway.add_token(user["access_token"]))


async def customer(gateway: Gateway, base_url: str, channel_type: int, key: str, models: str,
                   **channel_fields: Any) -> Customer:
    """A new customer, after adding the channel (of the default group) their requests will go to."""
    await gateway.add_channel(base_url, key=key, models=models, type=channel_type, **channel_fields)
    return await new_customer(gateway)


def expected_quota(prompt: int, completion: int, model: str, channel_type: int) -> int:
    """``ceil((prompt + completion × completion ratio) × model ratio × group ratio)`` for the default group."""
    options = Options()
    ratio = ratios.model_ratio(options, model, channel_type) * ratios.group_ratio(options, "default")
    return math.ceil((prompt + completion * ratios.completion_ratio(options, model, channel_type)) * ratio)


def offline_request(channel: Channel, path: str, mode: RelayMode, model: str = "gpt-3.5-turbo") -> RelayRequest:
    """The request an adaptor would get for ``channel`` — enough to build URLs and headers, no network.

    The upstream comes from the pipeline's own ``upstream_for``, so a channel without a base URL gets the
    type's default exactly as in a real relay.
    """
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return RelayRequest(mode=mode, path=path, query="", body=body, raw=None, model=model, origin_model=model,
                        stream=False, include_usage=False, prompt_tokens=0, upstream=upstream_for(channel),
                        http=None, settings=None, counter=None, client_headers={}, timeout=None)  # type: ignore[arg-type]
