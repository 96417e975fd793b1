"""DeepL channels (type 38): the last chat message is translated into the language the model name ends with."""

from __future__ import annotations

import openai
import pytest

from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.deepl import FakeDeepL
from tests.providers import Customer, customer, expected_quota, fake_upstream, stream_chat

DEEPL = ChannelType.DEEPL
SOURCE = "Good morning, how are you?"


deepl = fake_upstream(FakeDeepL)


@pytest.fixture
async def translator(gateway: Gateway, deepl: FakeDeepL) -> Customer:
    return await customer(gateway, deepl.url, DEEPL, deepl.key, "deepl-zh,deepl-ja,deepl-xx")


@pytest.mark.parametrize(("model", "lang"), [("deepl-zh", "ZH"), ("deepl-ja", "JA")])
async def test_translation_is_a_chat_answer_billed_per_character(translator: Customer, deepl: FakeDeepL,
                                                                  model: str, lang: str):
    answer = await translator.client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "ignored"}, {"role": "user", "content": SOURCE}])

    assert answer.choices[0].message.content == f"{lang}: {SOURCE}"
    assert answer.choices[0].finish_reason == "stop" and answer.model == model
    assert deepl.requests[-1] == {"text": [SOURCE], "target_lang": lang}
    [log] = await translator.logs()
    assert (log["prompt_tokens"], log["completion_tokens"]) == (len(SOURCE), 0)
    assert log["quota"] == expected_quota(len(SOURCE), 0, model, DEEPL)


async def test_stream_request_gets_the_translation_in_one_chunk(translator: Customer):
    chunks = await stream_chat(translator.client, model="deepl-zh", messages=[{"role": "user", "content": "Thanks"}],
                               stream_options={"include_usage": True})

    assert chunks[0].choices[0].delta.content == "ZH: Thanks" and chunks[0].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.prompt_tokens == len("Thanks")
    [log] = await translator.logs()
    assert log["is_stream"] and log["quota"] == expected_quota(len("Thanks"), 0, "deepl-zh", DEEPL)


async def test_deepl_error_reaches_the_client_in_openai_shape(translator: Customer):
    refused = await translator.refused_at_no_cost(openai.BadRequestError, model="deepl-xx")

    assert "Value for 'target_lang' not supported." in refused.body["message"]


async def test_wrong_deepl_key_is_rejected_with_a_clear_message(gateway: Gateway, deepl: FakeDeepL):
    stranger = await customer(gateway, deepl.url, DEEPL, "not-a-key:fx", "deepl-zh")
    refused = await stranger.refused_at_no_cost(openai.PermissionDeniedError, model="deepl-zh")

    assert "authentication key" in refused.body["message"]
