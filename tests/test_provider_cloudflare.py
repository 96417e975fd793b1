"""Cloudflare Workers AI channels (type 37) on the account's OpenAI-compatible endpoints."""

from __future__ import annotations

import openai
import pytest

from oneapi.adaptors.cloudflare import ADAPTOR
from oneapi.constants import ChannelType, RelayMode
from oneapi.db.models import Channel
from tests.conftest import Gateway
from tests.fakes.cloudflare import FakeWorkersAI
from tests.providers import Customer, customer, expected_quota, fake_upstream, offline_request

CLOUDFLARE = ChannelType.CLOUDFLARE
LLAMA = "@cf/meta/llama-3-8b-instruct"
BGE = "@cf/baai/bge-base-en-v1.5"


workers_ai = fake_upstream(FakeWorkersAI)


async def account_user(gateway: Gateway, fake: FakeWorkersAI, token: str | None = None,
                       account: str | None = None) -> Customer:
    config = '{"user_id": "%s"}' % (account or fake.account_id)
    return await customer(gateway, fake.url, CLOUDFLARE, token or fake.token, f"{LLAMA},{BGE},@cf/nope/missing",
                          config=config)


async def test_chat_goes_to_the_account_endpoint_and_bills_reported_usage(gateway: Gateway,
                                                                          workers_ai: FakeWorkersAI):
    cf_user = await account_user(gateway, workers_ai)
    answer = await cf_user.client.chat.completions.create(model=LLAMA, messages=[{"role": "user", "content": "hi"}])

    assert answer.choices[0].message.content == "Hello from Workers AI"
    assert workers_ai.paths[-1] == f"/client/v4/accounts/{workers_ai.account_id}/ai/v1/chat/completions"
    [log] = await cf_user.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (17, 6)
    assert log["quota"] == expected_quota(17, 6, LLAMA, CLOUDFLARE)


async def test_stream_and_embeddings(gateway: Gateway, workers_ai: FakeWorkersAI):
    cf_user = await account_user(gateway, workers_ai)
    stream = await cf_user.client.chat.completions.create(model=LLAMA, stream=True,
                                                          messages=[{"role": "user", "content": "hi"}])
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    embeddings = await cf_user.client.embeddings.create(model=BGE, input=["x", "y"])

    assert text == "Hello from Workers AI"
    assert workers_ai.requests[0]["stream_options"] == {"include_usage": True}
    assert [item.index for item in embeddings.data] == [0, 1]
    assert workers_ai.paths[-1] == f"/client/v4/accounts/{workers_ai.account_id}/ai/v1/embeddings"
    stream_log, embed_log = sorted(await cf_user.logs(), key=lambda log: log["id"])
    assert (stream_log["prompt_tokens"], stream_log["completion_tokens"]) == (17, 6) and stream_log["is_stream"]
    assert (embed_log["prompt_tokens"], embed_log["quota"]) == (4, expected_quota(4, 0, BGE, CLOUDFLARE))


async def test_workers_ai_error_reaches_the_client_in_openai_shape(gateway: Gateway, workers_ai: FakeWorkersAI):
    cf_user = await account_user(gateway, workers_ai)
    with pytest.raises(openai.BadRequestError) as caught:
        await cf_user.client.chat.completions.create(model="@cf/nope/missing",
                                                     messages=[{"role": "user", "content": "hi"}])
    assert "AiError: No such model @cf/nope/missing" in caught.value.body["message"]
    assert caught.value.body["code"] == "5007" and caught.value.body["type"] == "cloudflare_error"


@pytest.mark.parametrize(("wrong", "error"), [("token", openai.AuthenticationError),
                                              ("account", openai.PermissionDeniedError)])
async def test_wrong_credentials_are_rejected(gateway: Gateway, workers_ai: FakeWorkersAI, wrong: str,
                                              error: type[openai.APIStatusError]):
    stranger = await account_user(gateway, workers_ai, token="bad-token" if wrong == "token" else None,
                                  account="f" * 32 if wrong == "account" else None)
    refused = await stranger.refused_at_no_cost(error, model=LLAMA)

    assert refused.body["message"].startswith("Authentication error")


async def test_a_channel_without_account_id_is_a_clear_error(gateway: Gateway, workers_ai: FakeWorkersAI):
    unconfigured = await customer(gateway, workers_ai.url, CLOUDFLARE, workers_ai.token, LLAMA)
    refused = await unconfigured.refused_at_no_cost(openai.InternalServerError, model=LLAMA)

    assert "user_id" in refused.body["message"] and workers_ai.paths == []


@pytest.mark.parametrize(("mode", "path", "suffix"), [(RelayMode.CHAT, "/v1/chat/completions", "/v1/chat/completions"),
                                                      (RelayMode.EMBEDDINGS, "/v1/embeddings", "/v1/embeddings")])
def test_ai_gateway_base_is_the_prefix_and_the_default_base_names_the_account(mode: RelayMode, path: str,
                                                                                suffix: str):
    gateway_base = "https://gateway.ai.cloudflare.com/v1/acc123/my-gateway/workers-ai"
    via_gateway = Channel(id=1, type=CLOUDFLARE, key="k", base_url=gateway_base + "/", config='{"user_id": "x"}')
    assert ADAPTOR.url(offline_request(via_gateway, path, mode, LLAMA)) == gateway_base + suffix
    default = Channel(id=2, type=CLOUDFLARE, key="k", base_url="", config='{"user_id": "acc123"}')
    assert ADAPTOR.url(offline_request(default, path, mode, LLAMA)) == \
        "https://api.cloudflare.com/client/v4/accounts/acc123/ai" + suffix
