"""Google PaLM 2 channels (type 11) through the gateway, with the official OpenAI SDK as the client."""

from __future__ import annotations

import openai
import orjson
import pytest

from oneapi.billing.tokens import get_encoding
from oneapi.constants import ChannelType
from tests.conftest import Gateway
from tests.fakes.gemini import FakePalm
from tests.providers import fake_upstream, wire

MODEL = "chat-bison-001"
TYPE = ChannelType.PALM


palm = fake_upstream(FakePalm)


def completion_tokens(text: str) -> int:
    return len(get_encoding("cl100k_base").encode(text))


async def test_chat_uses_the_requested_model_and_top_k_and_bills_an_estimate(gateway: Gateway, palm: FakePalm):
    wired = await wire(gateway, palm, TYPE, MODEL)
    answer = await wired.client.chat.completions.create(
        model=MODEL, max_tokens=100, temperature=0.2, extra_body={"top_k": 20},
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                  {"role": "user", "content": "Who are you?"}])

    assert answer.choices[0].message.content == palm.reply
    assert palm.paths[-1] == f"/v1beta2/models/{MODEL}:generateMessage"
    sent = palm.requests[-1]
    assert sent == {"prompt": {"context": "Be brief.", "messages": [{"author": "0", "content": "Hi\nWho are you?"}]},
                    "temperature": 0.2, "topK": 20}
    # PaLM reports no usage: the completion is the gateway's own count of the answer.
    assert answer.usage.completion_tokens == completion_tokens(palm.reply)
    await wired.assert_billed(MODEL, TYPE, answer.usage.prompt_tokens, answer.usage.completion_tokens)


async def test_palm_2_means_chat_bison_and_n_gives_several_choices(gateway: Gateway, palm: FakePalm):
    wired = await wire(gateway, palm, TYPE, "PaLM-2")
    answer = await wired.client.chat.completions.create(model="PaLM-2", n=2,
                                                        messages=[{"role": "user", "content": "Hi"}])
    assert [c.message.content for c in answer.choices] == [palm.reply, f"{palm.reply} #2"]
    assert palm.paths[-1] == "/v1beta2/models/chat-bison-001:generateMessage"
    assert palm.requests[-1]["candidateCount"] == 2


async def test_stream_is_one_ordinary_chunk_then_done(gateway: Gateway, palm: FakePalm):
    wired = await wire(gateway, palm, TYPE, MODEL)
    key = wired.client.api_key
    body = {"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "Hi"}]}
    async with gateway.http.post(f"{gateway.url}/v1/chat/completions", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        events = [line[6:] for line in (await resp.text()).splitlines() if line.startswith("data: ")]

    assert events[-1] == "[DONE]"
    chunk, usage = (orjson.loads(event) for event in events[:-1])
    assert chunk["object"] == "chat.completion.chunk"  # an object, not a JSON-encoded string
    assert chunk["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": palm.reply},
                                 "finish_reason": "stop"}]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == completion_tokens(palm.reply)
    await wired.assert_billed(MODEL, TYPE, usage["usage"]["prompt_tokens"], completion_tokens(palm.reply))


async def test_errors_from_palm_are_mapped(gateway: Gateway, palm: FakePalm):
    wrong = await wire(gateway, palm, TYPE, MODEL, key="wrong-key")
    with pytest.raises(openai.BadRequestError) as bad_key:
        await wrong.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    assert bad_key.value.code == "API_KEY_INVALID" and "API key not valid" in bad_key.value.message

    wired = await wire(gateway, palm, TYPE, "text-bison-001")
    with pytest.raises(openai.NotFoundError) as missing:
        await wired.client.chat.completions.create(model="text-bison-001", messages=[{"role": "user", "content": "Hi"}])
    assert "models/text-bison-001 is not found" in missing.value.message

    palm.filtered = "OTHER"
    right = await wire(gateway, palm, TYPE, "PaLM-2")
    with pytest.raises(openai.BadRequestError) as filtered:
        await right.client.chat.completions.create(model="PaLM-2", messages=[{"role": "user", "content": "Hi"}])
    assert filtered.value.code == "content_filter" and "OTHER" in filtered.value.message
